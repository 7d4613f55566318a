/**
 * The training engine's entry point as the worker calls it (src/training/run-job.ts, owned by the engine). The
 * runner loads that module by name, so the worker builds and is tested before the engine's module lands; these
 * types restate its agreed contract.
 */
export interface TrainingRunSpec {
  jobId: string;
  method: 'SFT' | 'REWARD_MODEL' | 'DPO' | 'RL';
  parameterScale: 'FULL' | 'LORA' | 'PROMPT_TUNING';
  modelPath: string;
  dataset: { kind: 'SFT' | 'PREFERENCE' | 'PROMPT_ONLY'; rows: unknown[] };
  hyperparameters: Record<string, unknown>;
  outputDir: string;
  resumeFrom?: string;
  executionProvider: 'cpu' | 'webgpu' | 'cuda';
  checkpointEverySteps?: number;
}

export interface StepEvent {
  epoch: number;
  step: number;
  totalSteps: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number;
  extra?: Record<string, number>;
}

export interface CheckpointEvent {
  step: number;
  path: string;
  metrics: Record<string, number>;
}

export interface TrainingHooks {
  onStep(e: StepEvent): void | Promise<void>;
  onCheckpoint(c: CheckpointEvent): void | Promise<void>;
  shouldStop(): boolean;
}

export type RunTrainingJob = (
  spec: TrainingRunSpec,
  hooks: TrainingHooks,
) => Promise<{ finalCheckpoint: string }>;
