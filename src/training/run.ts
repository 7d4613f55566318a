/**
 * One training run from a request to its checkpoints, shared by `whetstone train` and the worker's job runner, the
 * same skeleton for every method: prepare the run (prepare.ts: model, data, parameterization, resume state, memory
 * plan), start the method's driver (driver.ts: collated batches, or RL's sampling iterations), then the one loop
 * (loop.ts) with validation, progress, and checkpoints (`<output>/checkpoint-<step>` on the way and when stopped,
 * the output folder itself at the end).
 */
import * as path from 'node:path';
import { ExecutionProvider } from '../engine/session';
import { writeResumeState } from './checkpoint';
import type { EngineScale as ParameterScale } from '../vocabulary';
import { DatasetRow } from '../data';
import { PromptTemplate } from '../data/examples';
import { COLLATED_BATCHES } from './collated-driver';
import { Hyperparameters } from './hyperparameters';
import { LoopPosition, StepSource, runLoop } from './loop';
import { TrainingMethod } from './methods';
import { PreparedRun, prepareRun } from './prepare';
import { StepEvent } from './progress';
import { HostParamState } from './train-state';
import { Validation } from './validation';

export interface TrainingRequest {
  method: TrainingMethod;
  parameterScale: ParameterScale;
  modelPath: string;
  /** Rows of the method's dataset kind. */
  rows: readonly DatasetRow[];
  template: PromptTemplate;
  /** A PEFT folder to start LoRA or prompt tuning from. */
  initAdapter: string | null;
  hyperparameters: Hyperparameters;
  output: string;
  resumeFrom: string | null;
  executionProvider: ExecutionProvider;
  threads: number | null;
  /** RL: the reward model (a REWARD_MODEL checkpoint, full folder or LoRA adapter with its head). */
  rewardModelPath?: string | null;
  /** Rows to validate on (a dataset's validation split), besides those `validationSplitRatio` holds out. */
  validationRows?: readonly DatasetRow[];
}

export interface RunHooks {
  onStart?(info: {
    totalSteps: number;
    examples: number;
    skipped: number;
    truncated: number;
    resumedAt: number;
  }): void;
  onStep(event: StepEvent): void | Promise<void>;
  onCheckpoint(c: { step: number; path: string; metrics: Record<string, number> }): void | Promise<void>;
  shouldStop(): boolean;
}

export interface RunResult {
  finalCheckpoint: string;
  /** True when the run ended on a stop request before its planned total. */
  stopped: boolean;
  steps: number;
}

export async function runTraining(req: TrainingRequest, hooks: RunHooks): Promise<RunResult> {
  const hp = req.hyperparameters;
  const driver = req.method.driver ?? COLLATED_BATCHES;
  const run = await prepareRun(req, driver);
  const started = await driver.start(run);
  const { steps } = started;
  let validation: Validation | null = null;
  let last: StepEvent | null = null;
  let finalCheckpoint = req.resumeFrom ?? req.output;
  let stopped = false;

  const checkpoint = async (reason: 'interval' | 'final' | 'stop', position: LoopPosition) => {
    const state = steps.state;
    const dir = reason === 'final' ? req.output : path.join(req.output, `checkpoint-${state.step}`);
    await saveCheckpoint(dir, run, steps, position);
    finalCheckpoint = dir;
    stopped = reason === 'stop';
    const metrics = last
      ? { loss: last.loss, gradNorm: last.gradNorm, learningRate: last.learningRate, ...last.extra }
      : {};
    await hooks.onCheckpoint({ step: state.step, path: dir, metrics });
  };

  try {
    validation = await Validation.create({
      method: req.method,
      rows: run.validationRows,
      model: run.model,
      params: run.params,
      hyperparameters: hp,
      maxSequenceLength: run.maxLength,
      tokenize: run.tokenize,
      validator: started.validator,
      stepsPerEpoch: steps.stepsPerEpoch,
      totalSteps: steps.totalSteps,
      executionProvider: req.executionProvider,
      threads: req.threads ?? undefined,
    });
    hooks.onStart?.({
      totalSteps: steps.totalSteps,
      examples: run.data.examples,
      skipped: run.skipped,
      truncated: run.truncated,
      resumedAt: steps.state.step,
    });
    await runLoop({
      steps,
      schedule: hp,
      position: run.position,
      checkpointEverySteps: hp.checkpointEverySteps,
      validation,
      hooks: {
        onStep: async (event) => {
          last = event;
          run.logHistory.push({
            step: event.step,
            epoch: event.epoch,
            loss: event.loss,
            gradNorm: event.gradNorm,
            learningRate: event.learningRate,
          });
          await hooks.onStep(event);
        },
        onCheckpoint: checkpoint,
        shouldStop: hooks.shouldStop,
      },
    });
  } finally {
    await started.release();
    await validation?.release();
  }
  return { finalCheckpoint, stopped, steps: steps.state.step };
}

/**
 * Writes one checkpoint of a run: the artifact in its PEFT or Hugging Face layout, the Adam moments and
 * trainer_state.json with everything prepare.ts's `restoreState` needs to continue exactly.
 */
async function saveCheckpoint(
  dir: string,
  run: PreparedRun,
  steps: StepSource,
  position: LoopPosition,
): Promise<void> {
  const { req } = run;
  const state = steps.state;
  const host = await state.toHost();
  run.params.save(dir, valuesOf(host));
  writeResumeState(
    dir,
    {
      format: 'whetstone-trainer-state',
      version: 1,
      method: req.method.name,
      parameterScale: req.parameterScale,
      globalStep: state.step,
      totalSteps: steps.totalSteps,
      position,
      rng: run.rng.state(),
      data: run.data,
      trainables: [...host.keys()],
      hyperparameters: req.hyperparameters,
      logHistory: run.logHistory,
      ...(state.lossScaler ? { lossScaler: state.lossScaler } : {}),
    },
    host,
  );
}

function valuesOf(host: ReadonlyMap<string, HostParamState>) {
  return new Map(
    [...host].map(([name, s]) => [name, { data: s.value, shape: s.shape, dtype: 'float32' as const }]),
  );
}
