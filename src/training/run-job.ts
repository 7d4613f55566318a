/**
 * The worker's entry point (the contract src/worker/training/contract.ts restates): a job spec from the API in,
 * progress and checkpoints out through hooks. Methods come from TRAINING_METHODS; one without an entry yet
 * (reward model, DPO, RL until the alignment work adds them) fails with a clear "not available yet".
 */
import { UnavailableError, UserInputError } from '../errors';
import { ExecutionProvider } from '../engine/session';
import { ParameterScale } from './config-file';
import { DatasetKind, DatasetRow, parseDatasetJsonl } from './data';
import { MethodName, TRAINING_METHODS, TrainingMethod } from './methods';
import { parseHyperparameters } from './hyperparameters';
import { StepEvent } from './progress';
import { runTraining } from './run';

export type { StepEvent } from './progress';

export interface TrainingRunSpec {
  jobId: string;
  method: MethodName;
  parameterScale: 'FULL' | 'LORA' | 'PROMPT_TUNING';
  modelPath: string;
  /** `validationRows`: the dataset's validation split, for evaluation during training. */
  dataset: { kind: DatasetKind; rows: unknown[]; validationRows?: unknown[] };
  hyperparameters: Record<string, unknown>;
  outputDir: string;
  resumeFrom?: string;
  executionProvider: ExecutionProvider;
  /** Overrides hyperparameters.checkpointEverySteps. */
  checkpointEverySteps?: number;
  /** RL: the finished reward model's checkpoint (resolved from rewardModelJobId by the caller). */
  rewardModelPath?: string;
}

export interface TrainingHooks {
  onStep(e: StepEvent): void | Promise<void>;
  onCheckpoint(c: { step: number; path: string; metrics: Record<string, number> }): void | Promise<void>;
  shouldStop(): boolean;
}

const SCALES: Record<TrainingRunSpec['parameterScale'], ParameterScale> = {
  FULL: 'full',
  LORA: 'lora',
  PROMPT_TUNING: 'prompt_tuning',
};

/** Rows as JSONL so the dataset parser checks them (errors then name the row as its line number). */
function datasetRows(spec: TrainingRunSpec, method: TrainingMethod, rows: unknown[]): DatasetRow[] {
  if (spec.dataset.kind !== method.datasetKind) {
    throw new UserInputError(
      `method ${spec.method} needs a dataset of kind ${method.datasetKind}, got ${spec.dataset.kind}`,
      ['dataset', 'kind'],
    );
  }
  return parseDatasetJsonl(rows.map((r) => JSON.stringify(r)).join('\n'), method.datasetKind);
}

export async function runTrainingJob(
  spec: TrainingRunSpec,
  hooks: TrainingHooks,
): Promise<{ finalCheckpoint: string }> {
  const method = TRAINING_METHODS[spec.method];
  if (!method) {
    const available = Object.keys(TRAINING_METHODS).join(', ');
    throw new UnavailableError(
      `training method ${spec.method} is not available yet (available: ${available})`,
    );
  }
  const scale = SCALES[spec.parameterScale];
  if (!scale)
    throw new UserInputError(`unknown parameterScale ${JSON.stringify(spec.parameterScale)}`, [
      'parameterScale',
    ]);
  const hyperparameters = parseHyperparameters(
    {
      ...spec.hyperparameters,
      ...(spec.checkpointEverySteps !== undefined ? { checkpointEverySteps: spec.checkpointEverySteps } : {}),
    },
    ['hyperparameters'],
    { runner: 'job', method: spec.method, parameterScale: spec.parameterScale },
  );
  const result = await runTraining(
    {
      method,
      parameterScale: scale,
      modelPath: spec.modelPath,
      rows: datasetRows(spec, method, spec.dataset.rows),
      validationRows: datasetRows(spec, method, spec.dataset.validationRows ?? []),
      // Conversation rows always go through the model's chat template; text rows use the plain template.
      template: 'plain',
      initAdapter: null,
      hyperparameters,
      output: spec.outputDir,
      resumeFrom: spec.resumeFrom ?? null,
      executionProvider: spec.executionProvider,
      threads: null,
      rewardModelPath: spec.rewardModelPath ?? null,
    },
    hooks,
  );
  return { finalCheckpoint: result.finalCheckpoint };
}
