/**
 * Training hyperparameters: one table of fields with their defaults and checks, shared by `whetstone train`
 * configs and worker job specs. Defaults follow the transformers Trainer (lr 5e-5, linear schedule, 3 epochs,
 * batch 8, seed 42, max grad norm 1) and peft (LoRA r 8, alpha 8, dropout 0, q_proj/v_proj).
 * Unknown keys are errors, so a misspelt name never silently falls back to a default.
 */
import { UserInputError } from '../errors';
import { SCHEDULE_NAMES, ScheduleName, isScheduleName } from './schedules';

export const MAX_SEQUENCE_LENGTH_LIMIT = 4096;

export interface Hyperparameters {
  epochs: number;
  batchSize: number;
  learningRate: number;
  lrScheduler: ScheduleName;
  warmupRatio: number;
  weightDecay: number;
  /** Decay every parameter (as a bare torch AdamW) instead of skipping biases and norm weights. */
  weightDecayAll: boolean;
  /** <= 0 disables clipping. */
  maxGradNorm: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  gradientAccumulationSteps: number;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  loraTargets: string[] | 'all-linear';
  numVirtualTokens: number;
  /** Initialise prompt tuning from this text's token embeddings (peft's PromptTuningInit.TEXT). */
  promptTuningInitText: string | null;
  /** float16 matrix products with float32 master weights and dynamic loss scaling (torch.autocast + GradScaler). */
  mixedPrecision: boolean;
  /** Null: min(1024, the model's limit). */
  maxSequenceLength: number | null;
  seed: number;
  shuffle: boolean;
  /** Save a checkpoint every N optimizer steps (0: only the final one). */
  checkpointEverySteps: number;
  /** Sequence lengths are padded up to a multiple of this, so few distinct graph shapes are compiled. */
  sequenceBucket: number;
  /** Fraction of the training rows held out for validation (seeded by `seed`), besides given validation rows. */
  validationSplitRatio: number;
  /** Report the loss on the validation rows every N optimizer steps (0: never). */
  evalEverySteps: number;
  /** At each epoch's end, also answer the validation prompts and report the six metrics (SFT). */
  evalMetricsAtEpochEnd: boolean;
  /** Most tokens of those answers. */
  evalMaxNewTokens: number;
  /** DPO: strength of the implicit KL constraint (rewards are beta * log-ratio to the reference). */
  beta: number;
  /** RL: completions sampled per prompt (one group for the group-relative advantages). */
  numGenerations: number;
  /** RL: most tokens a completion may have. */
  maxNewTokens: number;
  /** RL: sampling temperature. */
  temperature: number;
  /** RL: nucleus sampling mass. */
  topP: number;
  /** RL: weight of the k3 KL penalty to the reference policy. */
  klCoef: number;
  /** RL: PPO clip range of the probability ratio, [1 - eps, 1 + eps]. */
  clipEpsilon: number;
  /** RL: optimizer steps taken on each batch of samples. */
  rlEpochs: number;
}

type Check = (value: unknown, path: string[]) => unknown;

function fail(path: string[], what: string, value: unknown): never {
  throw new UserInputError(`${path.join('.')} must be ${what}, got ${JSON.stringify(value)}`, path);
}

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v, path) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? v
      : fail(path, `an integer in [${min}, ${max}]`, v);

const number =
  (min: number, max = Infinity, minExclusive = false): Check =>
  (v, path) =>
    typeof v === 'number' && Number.isFinite(v) && (minExclusive ? v > min : v >= min) && v <= max
      ? v
      : fail(
          path,
          `a number ${minExclusive ? '>' : '>='} ${min}${max < Infinity ? ` and <= ${max}` : ''}`,
          v,
        );

const boolean: Check = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'true or false', v));

const text: Check = (v, path) =>
  typeof v === 'string' && v.length > 0 ? v : fail(path, 'a non-empty string', v);

const schedule: Check = (v, path) =>
  typeof v === 'string' && isScheduleName(v) ? v : fail(path, `one of ${SCHEDULE_NAMES.join(', ')}`, v);

const nullable =
  (check: Check): Check =>
  (v, path) =>
    v === null ? null : check(v, path);

const targets: Check = (v, path) => {
  if (v === 'all-linear') return v;
  if (typeof v === 'string' && v.trim()) return v.split(',').map((s) => s.trim());
  if (Array.isArray(v) && v.length && v.every((s) => typeof s === 'string' && s.length > 0)) return v;
  return fail(path, `'all-linear' or a list of module names`, v);
};

export const HYPERPARAMETER_FIELDS: Record<keyof Hyperparameters, { check: Check; default: unknown }> = {
  epochs: { check: number(0, Infinity, true), default: 3 },
  batchSize: { check: integer(1), default: 8 },
  learningRate: { check: number(0), default: 5e-5 },
  lrScheduler: { check: schedule, default: 'linear' },
  warmupRatio: { check: number(0, 1), default: 0 },
  weightDecay: { check: number(0), default: 0 },
  weightDecayAll: { check: boolean, default: false },
  maxGradNorm: { check: number(0), default: 1 },
  adamBeta1: { check: number(0, 1), default: 0.9 },
  adamBeta2: { check: number(0, 1), default: 0.999 },
  adamEpsilon: { check: number(0), default: 1e-8 },
  gradientAccumulationSteps: { check: integer(1), default: 1 },
  loraRank: { check: integer(1), default: 8 },
  loraAlpha: { check: number(0, Infinity, true), default: 8 },
  loraDropout: { check: number(0, 0.99), default: 0 },
  loraTargets: { check: targets, default: ['q_proj', 'v_proj'] },
  numVirtualTokens: { check: integer(1, 1024), default: 20 },
  promptTuningInitText: { check: nullable(text), default: null },
  mixedPrecision: { check: boolean, default: false },
  maxSequenceLength: { check: nullable(integer(2, MAX_SEQUENCE_LENGTH_LIMIT)), default: null },
  seed: { check: integer(0, 2 ** 32 - 1), default: 42 },
  shuffle: { check: boolean, default: true },
  checkpointEverySteps: { check: integer(0), default: 0 },
  sequenceBucket: { check: integer(1, MAX_SEQUENCE_LENGTH_LIMIT), default: 16 },
  validationSplitRatio: { check: number(0, 0.5), default: 0 },
  evalEverySteps: { check: integer(0), default: 0 },
  evalMetricsAtEpochEnd: { check: boolean, default: false },
  evalMaxNewTokens: { check: integer(1, MAX_SEQUENCE_LENGTH_LIMIT), default: 64 },
  beta: { check: number(0, Infinity, true), default: 0.1 },
  numGenerations: { check: integer(2, 256), default: 4 },
  maxNewTokens: { check: integer(1, MAX_SEQUENCE_LENGTH_LIMIT), default: 64 },
  temperature: { check: number(0, 100, true), default: 1 },
  topP: { check: number(0, 1, true), default: 1 },
  klCoef: { check: number(0), default: 0.04 },
  clipEpsilon: { check: number(0, 1, true), default: 0.2 },
  rlEpochs: { check: integer(1, 100), default: 2 },
};

/** Validate `raw` (a JSON/YAML object) into complete hyperparameters; `path` locates it in errors. */
export function parseHyperparameters(raw: unknown, path: string[] = ['hyperparameters']): Hyperparameters {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(path, 'an object', raw);
  const given = raw as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => !(k in HYPERPARAMETER_FIELDS));
  if (unknown.length) {
    throw new UserInputError(
      `${path.join('.')}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} ` +
        `(known: ${Object.keys(HYPERPARAMETER_FIELDS).join(', ')})`,
      [...path, unknown[0]],
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(HYPERPARAMETER_FIELDS)) {
    const value = given[key];
    out[key] = value === undefined ? field.default : field.check(value, [...path, key]);
  }
  return out as unknown as Hyperparameters;
}
