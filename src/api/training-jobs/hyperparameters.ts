/**
 * The hyperparameters a training job accepts through the API: the documented range of each field, which parameter
 * scales it applies to, and its description. Defaults and the engine's own checks come from the training engine's
 * table (src/training/hyperparameters.ts), so the API never disagrees with what a worker will run; the ranges here
 * are the service's limits, at least as strict as the engine's.
 */
import { HYPERPARAMETER_FIELDS, Hyperparameters, parseHyperparameters } from '../../training/hyperparameters';
import { UserInputError } from '../../errors';
import { ParameterScale, TrainingMethod } from '../../db/entities';

export enum LrScheduler {
  LINEAR = 'LINEAR',
  COSINE = 'COSINE',
  COSINE_WITH_RESTARTS = 'COSINE_WITH_RESTARTS',
  POLYNOMIAL = 'POLYNOMIAL',
  CONSTANT = 'CONSTANT',
  CONSTANT_WITH_WARMUP = 'CONSTANT_WITH_WARMUP',
  INVERSE_SQRT = 'INVERSE_SQRT',
}

export enum ExecutionProvider {
  CPU = 'CPU',
  WEBGPU = 'WEBGPU',
  CUDA = 'CUDA',
}

/** Periodic checkpoints let another worker continue a job whose worker died; the engine alone defaults to none. */
export const API_CHECKPOINT_EVERY_STEPS_DEFAULT = 50;

type EngineKey = keyof Hyperparameters;

export interface HyperparameterSpec {
  kind: 'int' | 'float' | 'boolean' | 'scheduler' | 'provider' | 'targets' | 'text';
  /** Inclusive bounds unless `minExclusive`. */
  min?: number;
  max?: number;
  minExclusive?: boolean;
  /** Parameter scales the field means something for; absent: all. */
  scales?: readonly ParameterScale[];
  /** Training methods the field means something for; absent: all. */
  methods?: readonly TrainingMethod[];
  /** What the field does; the range and default are appended from the table. */
  about: string;
  /** The default, when it is not the engine's. */
  defaultText?: string;
}

const LORA = [ParameterScale.LORA];
const PROMPT = [ParameterScale.PROMPT_TUNING];
const DPO = [TrainingMethod.DPO];
const RL = [TrainingMethod.RL];

/** Field order here is the order in the schema. */
export const HYPERPARAMETERS = {
  epochs: { kind: 'int', min: 1, max: 1000, about: 'Passes over the training rows.' },
  batchSize: { kind: 'int', min: 1, max: 1024, about: 'Examples per micro-batch.' },
  gradientAccumulationSteps: {
    kind: 'int',
    min: 1,
    max: 1024,
    about: 'Micro-batches accumulated into one optimizer step (effective batch = batchSize x this).',
  },
  learningRate: { kind: 'float', min: 0, max: 1, minExclusive: true, about: 'Peak AdamW learning rate.' },
  lrScheduler: {
    kind: 'scheduler',
    about: 'Learning-rate schedule after warm-up, as transformers.get_scheduler defines it.',
  },
  warmupRatio: {
    kind: 'float',
    min: 0,
    max: 1,
    about:
      'Fraction of the optimizer steps spent warming the learning rate up from 0 (warm-up steps = ceil(ratio x total)).',
  },
  weightDecay: { kind: 'float', min: 0, max: 1, about: 'Decoupled AdamW weight decay.' },
  weightDecayAll: {
    kind: 'boolean',
    about:
      'Decay every parameter; when false, biases and normalisation weights are not decayed (transformers Trainer).',
  },
  maxGradNorm: {
    kind: 'float',
    min: 0,
    max: 1000,
    about: 'Global gradient-norm clipping threshold; 0 disables clipping.',
  },
  adamBeta1: { kind: 'float', min: 0, max: 0.9999, about: 'AdamW beta1.' },
  adamBeta2: { kind: 'float', min: 0, max: 0.9999, about: 'AdamW beta2.' },
  adamEpsilon: { kind: 'float', min: 0, max: 1, minExclusive: true, about: 'AdamW epsilon.' },
  loraRank: { kind: 'int', min: 1, max: 512, scales: LORA, about: 'LoRA rank r (LORA only).' },
  loraAlpha: {
    kind: 'float',
    min: 0,
    max: 4096,
    minExclusive: true,
    scales: LORA,
    about: 'LoRA scaling alpha; the update is scaled by alpha / r (LORA only).',
  },
  loraDropout: {
    kind: 'float',
    min: 0,
    max: 0.9,
    scales: LORA,
    about: 'Dropout on the LoRA input (LORA only).',
  },
  loraTargets: {
    kind: 'targets',
    scales: LORA,
    about:
      'Module names to adapt (e.g. q_proj, v_proj), or the single entry "all-linear" for every linear layer except the output head, as PEFT means it (LORA only).',
  },
  numVirtualTokens: {
    kind: 'int',
    min: 1,
    max: 1024,
    scales: PROMPT,
    about: 'Number of trained virtual tokens prepended to every input (PROMPT_TUNING only).',
  },
  promptTuningInitText: {
    kind: 'text',
    scales: PROMPT,
    about:
      "Initialise the virtual tokens from this text's token embeddings; null: random (PROMPT_TUNING only).",
  },
  maxSequenceLength: {
    kind: 'int',
    min: 8,
    max: 4096,
    about:
      "Longest tokenized example; longer ones are truncated. At most the base model's maximum sequence length.",
    defaultText: "min(1024, the base model's maximum sequence length)",
  },
  seed: {
    kind: 'int',
    min: 0,
    max: 2147483647,
    about: 'Seed of the data shuffle, initialisation and dropout.',
  },
  shuffle: { kind: 'boolean', about: 'Shuffle the training rows every epoch.' },
  checkpointEverySteps: {
    kind: 'int',
    min: 0,
    max: 1_000_000,
    about:
      'Save a checkpoint every N optimizer steps (0: only at the end and on cancellation). A job whose worker dies continues from the latest one.',
    defaultText: String(API_CHECKPOINT_EVERY_STEPS_DEFAULT),
  },
  validationSplitRatio: {
    kind: 'float',
    min: 0,
    max: 0.5,
    about:
      "Fraction of the training rows held out for validation (seeded by seed); the dataset's own validation split is always part of the validation rows.",
  },
  evalEverySteps: {
    kind: 'int',
    min: 0,
    max: 1_000_000,
    about:
      'Report the loss on the validation rows (eval_loss) every N optimizer steps, in the progress stream and the stored step metrics (0: never).',
  },
  evalMetricsAtEpochEnd: {
    kind: 'boolean',
    about:
      'At the end of each epoch, also answer the validation prompts (greedy) and report the means of accuracy, F1, ROUGE-1/2/L (precision, recall, F) and BLEU-4 as eval_<metric> (SFT only).',
  },
  evalMaxNewTokens: {
    kind: 'int',
    min: 1,
    max: 4096,
    about: 'Most tokens of each answer generated for evalMetricsAtEpochEnd.',
  },
  beta: {
    kind: 'float',
    min: 0,
    max: 100,
    minExclusive: true,
    methods: DPO,
    about:
      'Strength of the implicit KL constraint to the reference model; the implicit rewards are beta x the log-probability ratio (DPO only).',
  },
  numGenerations: {
    kind: 'int',
    min: 2,
    max: 256,
    methods: RL,
    about:
      "Completions sampled per prompt; each prompt's completions form one group for the group-relative advantages (RL only).",
  },
  maxNewTokens: {
    kind: 'int',
    min: 1,
    max: 4096,
    methods: RL,
    about: 'Most tokens of each sampled completion (RL only).',
  },
  temperature: {
    kind: 'float',
    min: 0,
    max: 100,
    minExclusive: true,
    methods: RL,
    about: 'Sampling temperature of the completions (RL only).',
  },
  topP: {
    kind: 'float',
    min: 0,
    max: 1,
    minExclusive: true,
    methods: RL,
    about:
      'Nucleus sampling: completions sample from the smallest token set with this probability mass (RL only).',
  },
  klCoef: {
    kind: 'float',
    min: 0,
    max: 100,
    methods: RL,
    about: 'Weight of the KL penalty (k3 estimator) to the frozen reference policy; 0 disables it (RL only).',
  },
  clipEpsilon: {
    kind: 'float',
    min: 0,
    max: 1,
    minExclusive: true,
    methods: RL,
    about:
      'PPO clip range: the probability ratio is clipped to [1 - clipEpsilon, 1 + clipEpsilon] (RL only).',
  },
  rlEpochs: {
    kind: 'int',
    min: 1,
    max: 100,
    methods: RL,
    about: 'Optimizer steps taken on each batch of sampled completions (RL only).',
  },
  mixedPrecision: {
    kind: 'boolean',
    about:
      'float16 matrix products with float32 master weights and dynamic loss scaling, for GPUs (WEBGPU); ' +
      'docs/gpu.md has its parity with float32 and its speed.',
  },
  executionProvider: {
    kind: 'provider',
    about: 'Where the worker runs the training: CPU, WEBGPU (any GPU through Vulkan/Metal/D3D12) or CUDA.',
    defaultText: 'CPU',
  },
} satisfies Record<string, HyperparameterSpec>;

export type HyperparameterName = keyof typeof HYPERPARAMETERS;

/** The hyperparameters as the API takes and shows them (GraphQL enums, lists). */
export type ApiHyperparameters = {
  [K in HyperparameterName]?: number | boolean | string | string[] | null;
};

function engineDefault(name: HyperparameterName): unknown {
  return name in HYPERPARAMETER_FIELDS ? HYPERPARAMETER_FIELDS[name as EngineKey].default : undefined;
}

function showDefault(name: HyperparameterName): string {
  const spec: HyperparameterSpec = HYPERPARAMETERS[name];
  if (spec.defaultText) return spec.defaultText;
  const value = engineDefault(name);
  if (spec.kind === 'scheduler') return String(value).toUpperCase();
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  return value === null ? 'null' : String(value);
}

function showRange(spec: HyperparameterSpec): string {
  if (spec.min === undefined || spec.max === undefined) return '';
  const kind = spec.kind === 'int' ? 'Integer' : 'Number';
  return ` ${kind} in ${spec.minExclusive ? '(' : '['}${spec.min}, ${spec.max}].`;
}

/** The schema description of a field: what it does, its range and its default. */
export function describeHyperparameter(name: HyperparameterName): string {
  const spec: HyperparameterSpec = HYPERPARAMETERS[name];
  return `${spec.about}${showRange(spec)} Default: ${showDefault(name)}.`;
}

export interface HyperparameterContext {
  method: TrainingMethod;
  parameterScale: ParameterScale;
  /** The base model's maximum sequence length. */
  modelMaxSequenceLength: number;
  /** Where the hyperparameters object sits in the request, for error paths. */
  path: readonly string[];
}

/** Everything a worker needs: the engine's hyperparameters plus where to run them. */
export interface ResolvedHyperparameters {
  engine: Hyperparameters;
  executionProvider: ExecutionProvider;
}

function checkRange(name: HyperparameterName, value: number, path: string[]): void {
  const spec: HyperparameterSpec = HYPERPARAMETERS[name];
  if (spec.min === undefined || spec.max === undefined) return;
  const aboveMin = spec.minExclusive ? value > spec.min : value >= spec.min;
  if (!aboveMin || value > spec.max || (spec.kind === 'int' && !Number.isInteger(value))) {
    throw new UserInputError(
      `${name} must be${showRange(spec).replace(/\.$/, '').toLowerCase()}, got ${value}`,
      path,
    );
  }
}

/**
 * Checks the given hyperparameters against the documented ranges and the job's parameter scale and model, fills
 * the defaults, and returns them in the engine's form. Throws UserInputError with the field's path.
 */
export function resolveHyperparameters(
  given: ApiHyperparameters,
  ctx: HyperparameterContext,
): ResolvedHyperparameters {
  const engineForm: Record<string, unknown> = {};
  let executionProvider = ExecutionProvider.CPU;
  for (const name of Object.keys(HYPERPARAMETERS) as HyperparameterName[]) {
    const value = given[name];
    if (value === undefined || value === null) continue;
    const spec: HyperparameterSpec = HYPERPARAMETERS[name];
    const path = [...ctx.path, name];
    if (spec.scales && !spec.scales.includes(ctx.parameterScale)) {
      throw new UserInputError(
        `${name} applies only to parameterScale ${spec.scales.join(' or ')}, not ${ctx.parameterScale}`,
        path,
      );
    }
    if (spec.methods && !spec.methods.includes(ctx.method)) {
      throw new UserInputError(
        `${name} applies only to method ${spec.methods.join(' or ')}, not ${ctx.method}`,
        path,
      );
    }
    if (typeof value === 'number') checkRange(name, value, path);
    if (spec.kind === 'scheduler') engineForm[name] = String(value).toLowerCase();
    else if (spec.kind === 'provider') executionProvider = value as ExecutionProvider;
    else if (spec.kind === 'targets') engineForm[name] = normalizeTargets(value as string[], path);
    else engineForm[name] = value;
  }
  const max = Math.min(ctx.modelMaxSequenceLength, HYPERPARAMETERS.maxSequenceLength.max);
  if (engineForm.maxSequenceLength === undefined) {
    engineForm.maxSequenceLength = Math.min(1024, max);
  } else if ((engineForm.maxSequenceLength as number) > max) {
    throw new UserInputError(
      `maxSequenceLength ${engineForm.maxSequenceLength} exceeds the base model's maximum sequence length ${max}`,
      [...ctx.path, 'maxSequenceLength'],
    );
  }
  engineForm.checkpointEverySteps ??= API_CHECKPOINT_EVERY_STEPS_DEFAULT;
  return { engine: parseHyperparameters(engineForm, [...ctx.path]), executionProvider };
}

function normalizeTargets(targets: string[], path: string[]): string[] | 'all-linear' {
  if (targets.length === 1 && targets[0] === 'all-linear') return 'all-linear';
  if (targets.length === 0) throw new UserInputError('loraTargets must name at least one module', path);
  targets.forEach((t, i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(t)) {
      throw new UserInputError(`loraTargets[${i}] "${t}" is not a module name`, [...path, String(i)]);
    }
  });
  return targets;
}

/** The jsonb a job row stores: the engine's hyperparameters plus `executionProvider`. */
export function toStored(r: ResolvedHyperparameters): Record<string, unknown> {
  return { ...r.engine, executionProvider: r.executionProvider };
}

export function fromStored(stored: Record<string, unknown>): ResolvedHyperparameters {
  const { executionProvider, ...engine } = stored;
  return {
    engine: engine as unknown as Hyperparameters,
    executionProvider: executionProvider as ExecutionProvider,
  };
}

/** Whether a field means something for a job of this method and parameter scale. */
function applies(spec: HyperparameterSpec, method: TrainingMethod, parameterScale: ParameterScale): boolean {
  return (
    (!spec.scales || spec.scales.includes(parameterScale)) && (!spec.methods || spec.methods.includes(method))
  );
}

/**
 * A job's stored hyperparameters in the API's form; fields that do not apply to its method or parameter scale are
 * null.
 */
export function toApiHyperparameters(
  stored: Record<string, unknown>,
  method: TrainingMethod,
  parameterScale: ParameterScale,
): ApiHyperparameters {
  const out: ApiHyperparameters = {};
  for (const name of Object.keys(HYPERPARAMETERS) as HyperparameterName[]) {
    const spec: HyperparameterSpec = HYPERPARAMETERS[name];
    const value = stored[name];
    if (value === undefined || !applies(spec, method, parameterScale)) out[name] = null;
    else if (spec.kind === 'scheduler') out[name] = String(value).toUpperCase();
    else if (spec.kind === 'targets')
      out[name] = value === 'all-linear' ? ['all-linear'] : (value as string[]);
    else out[name] = value as number | boolean | string | null;
  }
  return out;
}
