/**
 * The worker's entry point (the contract src/worker/training/contract.ts restates): a job spec from the API in,
 * progress and checkpoints out through hooks. SFT runs here; the alignment methods (reward model, DPO, RL)
 * register their objectives later and until then fail with a clear "not available yet".
 */
import { UnavailableError, UserInputError } from '../errors';
import { ExecutionProvider } from '../engine/session';
import { ParameterScale } from './config-file';
import { DatasetKind, SftRow, parseDatasetJsonl } from './data';
import { parseHyperparameters } from './hyperparameters';
import { StepEvent } from './progress';
import { runTraining } from './run';

export type { StepEvent } from './progress';

export interface TrainingRunSpec {
  jobId: string;
  method: 'SFT' | 'REWARD_MODEL' | 'DPO' | 'RL';
  parameterScale: 'FULL' | 'LORA' | 'PROMPT_TUNING';
  modelPath: string;
  dataset: { kind: DatasetKind; rows: unknown[] };
  hyperparameters: Record<string, unknown>;
  outputDir: string;
  resumeFrom?: string;
  executionProvider: ExecutionProvider;
  checkpointEverySteps?: number;
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
function sftRows(spec: TrainingRunSpec): SftRow[] {
  if (spec.dataset.kind !== 'SFT') {
    throw new UserInputError(`method SFT needs an SFT dataset, got ${spec.dataset.kind}`, [
      'dataset',
      'kind',
    ]);
  }
  return parseDatasetJsonl(spec.dataset.rows.map((r) => JSON.stringify(r)).join('\n'), 'SFT') as SftRow[];
}

export async function runTrainingJob(
  spec: TrainingRunSpec,
  hooks: TrainingHooks,
): Promise<{ finalCheckpoint: string }> {
  if (spec.method !== 'SFT') {
    throw new UnavailableError(`training method ${spec.method} is not available yet (only SFT is)`);
  }
  const scale = SCALES[spec.parameterScale];
  if (!scale)
    throw new UserInputError(`unknown parameterScale ${JSON.stringify(spec.parameterScale)}`, [
      'parameterScale',
    ]);
  const hyperparameters = parseHyperparameters({
    ...spec.hyperparameters,
    ...(spec.checkpointEverySteps !== undefined ? { checkpointEverySteps: spec.checkpointEverySteps } : {}),
  });
  const result = await runTraining(
    {
      method: 'sft',
      parameterScale: scale,
      modelPath: spec.modelPath,
      rows: sftRows(spec),
      // Conversation rows always go through the model's chat template; text rows use the plain template.
      template: 'plain',
      initAdapter: null,
      hyperparameters,
      output: spec.outputDir,
      resumeFrom: spec.resumeFrom ?? null,
      executionProvider: spec.executionProvider,
      threads: null,
    },
    hooks,
  );
  return { finalCheckpoint: result.finalCheckpoint };
}
