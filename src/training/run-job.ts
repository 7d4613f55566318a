/**
 * The worker's entry point: a job spec (read from the job's row by src/worker/training/job-spec.ts) in, progress
 * and checkpoints out through hooks. Methods come from TRAINING_METHODS.
 */
import { UserInputError } from '../errors';
import { ExecutionProvider } from '../engine/session';
import { SCALE_NAMES, type ScaleName, engineName } from '../vocabulary';
import { DatasetKind, DatasetRow, parseDatasetJsonl } from '../data';
import { MethodName, TRAINING_METHODS, TrainingMethod } from './methods';
import { parseHyperparameters } from './hyperparameters';
import { StepEvent } from './progress';
import { runTraining } from './run';

export type { StepEvent } from './progress';

export interface TrainingRunSpec {
  jobId: string;
  method: MethodName;
  parameterScale: ScaleName;
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
  const method: TrainingMethod | undefined = TRAINING_METHODS[spec.method];
  if (!method) {
    throw new UserInputError(`unknown training method ${JSON.stringify(spec.method)}`, ['method']);
  }
  const scale = (SCALE_NAMES as readonly string[]).includes(spec.parameterScale)
    ? engineName(spec.parameterScale)
    : null;
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
