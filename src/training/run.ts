/**
 * One training run from a request to its checkpoints, shared by `whetstone train` and the worker's job runner:
 * load the model and data, build the method's Objective over the chosen parameterization (full, LoRA, prompt
 * tuning), restore a checkpoint when resuming, run the loop, and write checkpoints (`<output>/checkpoint-<step>`
 * on the way and when stopped, the output folder itself at the end).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { UserInputError } from '../errors';
import { ExecutionProvider } from '../engine/session';
import { checkSequenceLength } from '../models/config';
import { LoadedModel, loadModel } from '../models/model';
import { LogEntry, TrainerStateFile, readMoments, readTrainerState, writeResumeState } from './checkpoint';
import type { EngineScale as ParameterScale } from '../vocabulary';
import { DatasetRow } from '../data';
import { exampleData, padTokenIdOf } from './batches';
import { PromptTemplate } from '../data/examples';
import { Hyperparameters, RESUME_FREE, defaultSequenceLength, defaultValue } from './hyperparameters';
import type { OptimizerOptions } from './step-graphs';
import { LoopPosition, START, planSteps, runLoop } from './loop';
import { MethodName, TrainingMethod } from './methods';
import { MemoryPlan, memoryBudget, memoryJob, planMemory } from './memory-plan';
import { sizeOf } from '../engine/graph';
import { Parameterization, parameterize } from './parameterization';
import { StepEvent } from './progress';
import { Rng } from '../util/rng';
import { HostParamState, TrainState } from './train-state';
import { Trainer } from './trainer';
import { Validation, splitRows } from './validation';

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

/** The fingerprint of a run's tokenized examples that checkpoints record (data.fingerprint). */
export function fingerprint(examples: readonly unknown[]): string {
  const h = createHash('sha256');
  for (const e of examples) h.update(JSON.stringify(e));
  return h.digest('hex');
}

/** Refuse a checkpoint written by another method, scale, data set or trajectory-changing hyperparameters. */
export function checkResumable(
  saved: TrainerStateFile,
  req: TrainingRequest,
  dataPrint: string,
  examples: number,
): void {
  const mismatch = (what: string) => {
    throw new UserInputError(`resumeFrom ${req.resumeFrom}: ${what}`, ['resumeFrom'], 'BAD_CHECKPOINT');
  };
  const method = req.method.name;
  if (saved.method !== method || saved.parameterScale !== req.parameterScale) {
    mismatch(
      `it was trained with ${saved.method}/${saved.parameterScale}, not ${method}/${req.parameterScale}`,
    );
  }
  if (saved.data.fingerprint !== dataPrint) {
    mismatch(`it was trained on other data (${saved.data.examples} examples; now ${examples})`);
  }
  // A key newer than the checkpoint counts as its default there.
  const savedValue = (k: keyof Hyperparameters) =>
    k in saved.hyperparameters ? saved.hyperparameters[k] : defaultValue(k);
  const changed = (Object.keys(req.hyperparameters) as (keyof Hyperparameters)[]).filter(
    (k) => !RESUME_FREE.has(k) && JSON.stringify(savedValue(k)) !== JSON.stringify(req.hyperparameters[k]),
  );
  if (changed.length) mismatch(`hyperparameters differ from the checkpoint's: ${changed.join(', ')}`);
}

/** The model to build on: a full-update checkpoint is itself the model; adapters sit on the base model. */
function modelDir(req: TrainingRequest): string {
  return req.resumeFrom && req.parameterScale === 'full' ? req.resumeFrom : req.modelPath;
}

/**
 * The run's memory plan (see memory-plan.ts) against this process's budget: a job that cannot fit fails here,
 * before any weight is read or graph built.
 */
export function planJobMemory(
  model: LoadedModel,
  req: Pick<TrainingRequest, 'method' | 'parameterScale' | 'hyperparameters'>,
): MemoryPlan {
  const parameters = model.weights.names().reduce((s, n) => s + sizeOf(model.weights.shape(n)), 0);
  const job = memoryJob(model.config, parameters, {
    method: req.method.name.toUpperCase() as MethodName,
    scale: req.parameterScale,
    hp: req.hyperparameters,
    maxPositions: model.config.maxPositionEmbeddings,
  });
  return planMemory(job, memoryBudget());
}

export async function runTraining(req: TrainingRequest, hooks: RunHooks): Promise<RunResult> {
  if (req.method.run) return req.method.run(req, hooks);
  const hp = req.hyperparameters;
  const saved = req.resumeFrom ? readTrainerState(req.resumeFrom) : null;
  const model: LoadedModel = await loadModel(modelDir(req));

  // Prompt tuning's virtual tokens take positions ahead of the text.
  const virtualTokens = req.parameterScale === 'prompt_tuning' ? hp.numVirtualTokens : 0;
  const maxLength =
    hp.maxSequenceLength ?? defaultSequenceLength(model.config.maxPositionEmbeddings, virtualTokens)!;
  checkSequenceLength(
    model.config,
    maxLength + virtualTokens,
    virtualTokens
      ? `hyperparameters.maxSequenceLength ${maxLength} + numVirtualTokens`
      : 'hyperparameters.maxSequenceLength',
  );
  const rows = splitRows(req.rows, req.validationRows ?? [], hp.validationSplitRatio, hp.seed);
  const tokenized = req.method.tokenize(rows.train, model.tokenizer, {
    maxSequenceLength: maxLength,
    template: req.template,
  });
  if (tokenized.examples.length === 0) {
    const why = tokenized.skipped[0]
      ? ` (row ${tokenized.skipped[0].row + 1}: ${tokenized.skipped[0].reason})`
      : '';
    throw new UserInputError(`the dataset has no usable example${why}`, ['dataset']);
  }
  const prepare = async (examples: unknown[]) =>
    req.method.prepare
      ? req.method.prepare(examples, {
          baseModelPath: req.modelPath,
          hyperparameters: hp,
          executionProvider: req.executionProvider,
          threads: req.threads ?? undefined,
        })
      : examples;
  const examples = await prepare(tokenized.examples);
  const padTokenId = padTokenIdOf(model.tokenizer);
  const collate = (batch: unknown[]) =>
    req.method.collate(batch, { padTokenId, padToMultipleOf: hp.sequenceBucket, maxLength });
  const data = exampleData(examples, collate);
  const dataPrint = fingerprint(tokenized.examples);
  if (saved) checkResumable(saved, req, dataPrint, tokenized.examples.length);

  const memory = planJobMemory(model, req);
  const rng = saved ? Rng.fromState(saved.rng) : Rng.fromSeed(hp.seed);
  const params: Parameterization = (req.method.parameterize ?? parameterize)(model, {
    scale: req.parameterScale,
    hyperparameters: hp,
    adapterDir: req.resumeFrom && req.parameterScale !== 'full' ? req.resumeFrom : req.initAdapter,
    rng,
  });
  const objective = req.method.objective({ model, params, hyperparameters: hp });
  const state = saved ? restoreState(saved, params, req.resumeFrom!) : TrainState.initial(params.initial);
  const trainer = new Trainer(objective, state, {
    ...optimizerOptions(hp),
    memoryLayout: memory.layout,
    executionProvider: req.executionProvider,
    threads: req.threads ?? undefined,
    random: () => rng.next(),
  });

  const options = {
    epochs: hp.epochs,
    batchSize: hp.batchSize,
    gradientAccumulationSteps: hp.gradientAccumulationSteps,
    shuffle: hp.shuffle,
    lrScheduler: hp.lrScheduler,
    learningRate: hp.learningRate,
    warmupRatio: hp.warmupRatio,
  };
  const plan = planSteps(data.size, options);
  const validation = await Validation.create({
    memoryLayout: memory.layout,
    method: req.method,
    rows: rows.validation,
    model,
    params,
    objective,
    hyperparameters: hp,
    template: req.template,
    maxSequenceLength: maxLength,
    collate,
    prepare,
    stepsPerEpoch: plan.stepsPerEpoch,
    totalSteps: plan.totalSteps,
    executionProvider: req.executionProvider,
    threads: req.threads ?? undefined,
  });
  const logHistory: LogEntry[] = saved ? [...saved.logHistory] : [];
  let last: StepEvent | null = null;
  let finalCheckpoint = req.resumeFrom ?? req.output;
  let stopped = false;
  hooks.onStart?.({
    totalSteps: plan.totalSteps,
    examples: data.size,
    skipped: tokenized.skipped.length,
    truncated: tokenized.truncated,
    resumedAt: state.step,
  });

  const checkpoint = async (reason: 'interval' | 'final' | 'stop', position: LoopPosition) => {
    const dir = reason === 'final' ? req.output : path.join(req.output, `checkpoint-${state.step}`);
    await saveRunCheckpoint(dir, {
      req,
      params,
      state,
      totalSteps: plan.totalSteps,
      position,
      rng,
      data: { examples: data.size, fingerprint: dataPrint },
      hyperparameters: hp,
      logHistory,
    });
    finalCheckpoint = dir;
    stopped = reason === 'stop';
    const metrics = last
      ? { loss: last.loss, gradNorm: last.gradNorm, learningRate: last.learningRate, ...last.extra }
      : {};
    await hooks.onCheckpoint({ step: state.step, path: dir, metrics });
  };

  try {
    await runLoop({
      trainer,
      data,
      options,
      shuffler: rng,
      position: saved ? saved.position : START,
      checkpointEverySteps: hp.checkpointEverySteps,
      hooks: {
        onStep: async (stepEvent) => {
          const measured = await validation?.after(stepEvent.step, state);
          const event = measured ? { ...stepEvent, extra: { ...stepEvent.extra, ...measured } } : stepEvent;
          last = event;
          logHistory.push({
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
    await trainer.release();
    await validation?.release();
  }
  return { finalCheckpoint, stopped, steps: state.step };
}

/** What a run checkpoint holds besides its directory. */
export interface RunCheckpoint {
  req: Pick<TrainingRequest, 'method' | 'parameterScale'>;
  params: Parameterization;
  state: TrainState;
  totalSteps: number;
  position: LoopPosition;
  rng: Rng;
  data: { examples: number; fingerprint: string };
  hyperparameters: Hyperparameters;
  logHistory: LogEntry[];
}

/** The trainer's optimizer settings from a run's hyperparameters. */
export function optimizerOptions(hp: Hyperparameters): OptimizerOptions {
  return {
    adamW: { beta1: hp.adamBeta1, beta2: hp.adamBeta2, eps: hp.adamEpsilon, weightDecay: hp.weightDecay },
    maxGradNorm: hp.maxGradNorm > 0 ? hp.maxGradNorm : null,
    weightDecayAll: hp.weightDecayAll,
    mixedPrecision: hp.mixedPrecision,
  };
}

/**
 * Writes one checkpoint of a run (SFT, reward model, DPO or RL): the artifact in its PEFT or Hugging Face layout,
 * the Adam moments and trainer_state.json with everything `restoreState` needs to continue exactly.
 */
export async function saveRunCheckpoint(dir: string, c: RunCheckpoint): Promise<void> {
  const host = await c.state.toHost();
  c.params.save(dir, valuesOf(host));
  writeResumeState(
    dir,
    {
      format: 'whetstone-trainer-state',
      version: 1,
      method: c.req.method.name,
      parameterScale: c.req.parameterScale,
      globalStep: c.state.step,
      totalSteps: c.totalSteps,
      position: c.position,
      rng: c.rng.state(),
      data: c.data,
      trainables: [...host.keys()],
      hyperparameters: c.hyperparameters,
      logHistory: c.logHistory,
      ...(c.state.lossScaler ? { lossScaler: c.state.lossScaler } : {}),
    },
    host,
  );
}

function valuesOf(host: ReadonlyMap<string, HostParamState>) {
  return new Map(
    [...host].map(([name, s]) => [name, { data: s.value, shape: s.shape, dtype: 'float32' as const }]),
  );
}

/** Trainables from the checkpoint's artifact (already in `params.initial`) with its Adam moments. */
export function restoreState(saved: TrainerStateFile, params: Parameterization, dir: string): TrainState {
  const names = [...params.initial.keys()];
  if (names.join('\n') !== [...saved.trainables].join('\n')) {
    throw new UserInputError(
      `resumeFrom ${dir}: it trains [${saved.trainables.join(', ')}], this run [${names.join(', ')}]`,
      ['resumeFrom'],
      'BAD_CHECKPOINT',
    );
  }
  const moments = readMoments(dir, new Map(names.map((n) => [n, params.initial.get(n)!.shape])));
  const states = new Map<string, HostParamState>();
  for (const [name, t] of params.initial) {
    const m = moments.get(name)!;
    states.set(name, {
      shape: t.shape,
      value: t.data as Float32Array,
      expAvg: m.expAvg,
      expAvgSq: m.expAvgSq,
    });
  }
  return TrainState.fromHost(saved.globalStep, states, saved.lossScaler ?? null);
}
