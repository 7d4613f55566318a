/**
 * The first half of every run (run.ts), whatever its method: read the checkpoint to resume from, load the model,
 * settle the sequence length, split off the validation rows, tokenize, refuse a checkpoint of another run, plan
 * the memory, seed the RNG, parameterize (full, LoRA, prompt tuning), build the objective and the train state.
 * What happens to the prepared run then is the method's driver's (driver.ts).
 */
import { createHash } from 'node:crypto';
import { FloatWeights } from '../engine/float-weights';
import { UserInputError } from '../errors';
import { checkSequenceLength } from '../models/config';
import { LoadedModel, loadModel } from '../models/model';
import { DatasetRow, SftRow } from '../data';
import { measureEvaluationPrompts } from '../evaluation/run-evaluation';
import { TokenizeOptions } from '../data/examples';
import { LogEntry, TrainerStateFile, readMoments, readTrainerState } from './checkpoint';
import type { Driver } from './driver';
import {
  Hyperparameters,
  RESUME_FREE,
  checkHyperparameterRules,
  defaultSequenceLength,
  defaultValue,
} from './hyperparameters';
import { LoopPosition, START } from './loop';
import {
  type RewardModelSize,
  arenaFits,
  type TrainingMemoryPlan,
  type ValidationPrompts,
  jobBudget,
  virtualTokensOf,
  memoryJob,
  parameterCount,
  planTrainingMemory,
  stepLength,
  stepRows,
} from './memory-plan';
import { rewardModelSize } from './alignment/reward-checkpoint';
import { webgpuMemoryLayout } from '../models/webgpu-fit';
import { METHOD_NAMES, wordOf } from '../vocabulary';
import { Objective } from './objective';
import { Parameterization, ParameterizeOptions, parameterize } from './parameterization';
import type { TrainingRequest } from './run';
import type { OptimizerOptions } from './step-graphs';
import { HostParamState, TrainState } from './train-state';
import type { TrainerOptions } from './trainer';
import { Rng } from '../util/rng';
import { splitRows } from './validation';

export interface PreparedRun {
  req: TrainingRequest;
  model: LoadedModel;
  /** maxSequenceLength, the model's default resolved. */
  maxLength: number;
  /** How training and validation rows are tokenized. */
  tokenize: TokenizeOptions;
  /** The tokenized training rows. */
  examples: unknown[];
  skipped: number;
  truncated: number;
  validationRows: DatasetRow[];
  /** What checkpoints record of the data (data.fingerprint). */
  data: { examples: number; fingerprint: string };
  memory: TrainingMemoryPlan;
  rng: Rng;
  params: Parameterization;
  objective: Objective;
  state: TrainState;
  /** Where the loop starts, and the log so far (both from the checkpoint when resuming). */
  position: LoopPosition;
  logHistory: LogEntry[];
  trainer: TrainerOptions;
}

const virtualTokenCount = (req: Pick<TrainingRequest, 'parameterScale' | 'hyperparameters'>) =>
  virtualTokensOf(req.parameterScale, req.hyperparameters);

export async function prepareRun(req: TrainingRequest, driver: Driver): Promise<PreparedRun> {
  const hp = req.hyperparameters;
  const saved = req.resumeFrom ? readTrainerState(req.resumeFrom) : null;
  const fullCheckpoint = req.resumeFrom && req.parameterScale === 'full' ? req.resumeFrom : null;
  const model = await loadModel((!driver.keepsBaseModel && fullCheckpoint) || req.modelPath);

  const virtualTokens = virtualTokenCount(req);
  const maxLength =
    hp.maxSequenceLength ?? defaultSequenceLength(model.config.maxPositionEmbeddings, virtualTokens)!;
  checkSequenceLength(
    model.config,
    maxLength + virtualTokens,
    virtualTokens
      ? `hyperparameters.maxSequenceLength ${maxLength} + numVirtualTokens`
      : 'hyperparameters.maxSequenceLength',
  );
  checkHyperparameterRules({ ...hp, maxSequenceLength: maxLength }, { method: methodName(req) });
  const rows = splitRows(req.rows, req.validationRows ?? [], hp.validationSplitRatio, hp.seed);
  const tokenize = {
    maxSequenceLength: driver.exampleLength?.(maxLength, hp) ?? maxLength,
    template: req.template,
  };
  const tokenized = req.method.tokenize(rows.train, model.tokenizer, tokenize);
  if (tokenized.examples.length === 0) {
    const why = tokenized.skipped[0]
      ? ` (row ${tokenized.skipped[0].row + 1}: ${tokenized.skipped[0].reason})`
      : '';
    throw new UserInputError(`the dataset has no usable example${why}`, ['dataset']);
  }
  const data = { examples: tokenized.examples.length, fingerprint: fingerprint(tokenized.examples) };
  if (saved) checkResumable(saved, req, data.fingerprint, data.examples);

  // RL: the reward model's size (its headers only) for the estimate of its scoring.
  const reward = req.rewardModelPath ? await rewardModelSize(req.rewardModelPath) : undefined;
  const memory = planJobMemory(model, req, reward, rows.validation);
  const rng = saved ? Rng.fromState(saved.rng) : Rng.fromSeed(hp.seed);
  const parameterizeRun = req.method.parameterize ?? parameterize;
  const options = (adapterDir: string | null): ParameterizeOptions => ({
    scale: req.parameterScale,
    hyperparameters: hp,
    adapterDir,
    rng,
  });
  // An adapter checkpoint is the adapter to go on training.
  const adapterDir = req.parameterScale !== 'full' && req.resumeFrom ? req.resumeFrom : req.initAdapter;
  const params = parameterizeRun(model, options(adapterDir));
  const trained =
    driver.keepsBaseModel && fullCheckpoint
      ? parameterizeRun(await loadModel(fullCheckpoint), options(null))
      : params;
  return {
    req,
    model,
    maxLength,
    tokenize,
    examples: tokenized.examples,
    skipped: tokenized.skipped.length,
    truncated: tokenized.truncated,
    validationRows: rows.validation,
    data,
    memory,
    rng,
    params,
    objective: req.method.objective({ model, params, hyperparameters: hp }),
    state: saved ? restoreState(saved, trained, req.resumeFrom!) : TrainState.initial(params.initial),
    position: saved ? saved.position : START,
    logHistory: saved ? [...saved.logHistory] : [],
    trainer: {
      ...optimizerOptions(hp),
      memoryLayout: memory.layout,
      executionProvider: req.executionProvider,
      threads: req.threads ?? undefined,
      random: () => rng.next(),
      // The run's step and validation sessions hold one float32 copy of 16-bit frozen weights between them.
      floatWeights: new FloatWeights(),
      ...(arenaFits(memory) ? { session: { ortOptions: { enableCpuMemArena: true } } } : {}),
    },
  };
}

const methodName = (req: Pick<TrainingRequest, 'method'>) => wordOf(METHOD_NAMES, req.method.name);

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

/**
 * The run's memory plan (memory-plan.ts `planTrainingMemory`) against this process's budget, and on a GPU provider
 * the device's (`jobBudget`), less what evalMetricsAtEpochEnd's generation and RL's sampling and scoring with
 * `reward` add: a job that cannot fit fails here, before any weight is read or graph built. On WebGPU the layout is
 * then fitted to the storage-binding limit (models/webgpu-fit.ts) for the widest row a step runs (`stepLength`).
 */
export function planJobMemory(
  model: LoadedModel,
  req: Pick<TrainingRequest, 'method' | 'parameterScale' | 'hyperparameters' | 'executionProvider'>,
  reward?: RewardModelSize,
  validationRows?: readonly DatasetRow[],
): TrainingMemoryPlan {
  const job = memoryJob(model.config, parameterCount(model), {
    method: methodName(req),
    scale: req.parameterScale,
    hp: req.hyperparameters,
    maxPositions: model.config.maxPositionEmbeddings,
  });
  const plan = planTrainingMemory(job, jobBudget(req.executionProvider), {
    scale: req.parameterScale,
    hp: req.hyperparameters,
    reward,
    validationPrompts: validationPrompts(model, req, validationRows),
  });
  if (req.executionProvider !== 'webgpu') return plan;
  // The widest row the method really runs (RL: prompt + completion, padded), virtual tokens included.
  const run = { batch: stepRows(job), tokens: stepLength(job) };
  return { ...plan, layout: webgpuMemoryLayout(plan.layout, model.config, run) };
}

/**
 * The validation prompts evalMetricsAtEpochEnd generates for (SFT rows), tokenized as validation.ts's evaluation
 * tokenizes them; undefined where there is no such generation or the rows are not given (the plan's bound).
 */
function validationPrompts(
  model: LoadedModel,
  req: Pick<TrainingRequest, 'method' | 'parameterScale' | 'hyperparameters'>,
  rows?: readonly DatasetRow[],
): ValidationPrompts | undefined {
  const hp = req.hyperparameters;
  if (!rows || !hp.evalMetricsAtEpochEnd || req.method.datasetKind !== 'SFT') return undefined;
  const maxPositions = model.config.maxPositionEmbeddings;
  const measured = measureEvaluationPrompts(rows as readonly SftRow[], model.tokenizer, {
    maxPositions,
    virtualTokens: virtualTokenCount(req),
    maxNewTokens: hp.evalMaxNewTokens,
  });
  return { ...measured, maxPositions };
}

/** The trainer's optimizer settings from a run's hyperparameters. */
export function optimizerOptions(hp: Hyperparameters): OptimizerOptions {
  return {
    adamW: { beta1: hp.adamBeta1, beta2: hp.adamBeta2, eps: hp.adamEpsilon, weightDecay: hp.weightDecay },
    maxGradNorm: hp.maxGradNorm > 0 ? hp.maxGradNorm : null,
    weightDecayAll: hp.weightDecayAll,
    mixedPrecision: hp.mixedPrecision,
    mixedPrecisionCompute: hp.mixedPrecisionCompute,
  };
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
