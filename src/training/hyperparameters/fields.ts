/**
 * The hyperparameters every method shares, and those of the parameter scales (LoRA, prompt tuning). Defaults
 * follow the transformers Trainer (lr 5e-5, linear schedule, 3 epochs, batch 8, seed 42, max grad norm 1) and peft
 * (LoRA r 8, alpha 8, dropout 0, q_proj/v_proj). The methods' own fields sit with each method (alignment/).
 * Field order here is the order of the schema and of the specification query.
 */
import { SCHEDULE_NAMES } from '../schedules';
import { PROVIDER_NAMES } from '../../vocabulary';
import { defineFields } from './field';

export const MAX_SEQUENCE_LENGTH_LIMIT = 4096;

export const TRAINING_FIELDS = defineFields({
  epochs: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 1000,
    wholeInApi: true,
    default: 3,
    description:
      'Passes over the training rows (configs may give a fraction: the run stops part-way through the last pass).',
  },
  batchSize: { type: 'int', min: 1, max: 1024, default: 8, description: 'Examples per micro-batch.' },
  gradientAccumulationSteps: {
    type: 'int',
    min: 1,
    max: 1024,
    default: 1,
    description: 'Micro-batches accumulated into one optimizer step (effective batch = batchSize x this).',
  },
  learningRate: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 1,
    default: 5e-5,
    description: 'Peak AdamW learning rate.',
  },
  lrScheduler: {
    type: 'enum',
    values: SCHEDULE_NAMES,
    default: 'linear',
    enumName: 'LrScheduler',
    enumDescription: 'Learning-rate schedules, as transformers.get_scheduler defines them.',
    valueDescriptions: {
      linear: 'Linear decay to 0 after warm-up.',
      cosine: 'Half-cosine decay to 0 after warm-up.',
      cosine_with_restarts: 'Cosine decay with hard restarts.',
      polynomial: 'Polynomial decay (power 1) to 1e-7.',
      constant: 'Constant; warm-up is ignored.',
      constant_with_warmup: 'Constant after a linear warm-up.',
      inverse_sqrt: 'Inverse square-root decay after warm-up.',
    },
    description: 'Learning-rate schedule after warm-up, as transformers.get_scheduler defines it.',
  },
  warmupRatio: {
    type: 'float',
    min: 0,
    max: 1,
    default: 0,
    description:
      'Fraction of the optimizer steps spent warming the learning rate up from 0 (warm-up steps = ceil(ratio x total)).',
  },
  weightDecay: { type: 'float', min: 0, max: 1, default: 0, description: 'Decoupled AdamW weight decay.' },
  weightDecayAll: {
    type: 'boolean',
    default: false,
    description:
      'Decay every parameter (as a bare torch AdamW); when false, biases and normalisation weights are not decayed (transformers Trainer).',
  },
  maxGradNorm: {
    type: 'float',
    min: 0,
    max: 1000,
    default: 1,
    description: 'Global gradient-norm clipping threshold; 0 disables clipping.',
  },
  adamBeta1: { type: 'float', min: 0, max: 0.9999, default: 0.9, description: 'AdamW beta1.' },
  adamBeta2: { type: 'float', min: 0, max: 0.9999, default: 0.999, description: 'AdamW beta2.' },
  adamEpsilon: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 1,
    default: 1e-8,
    description: 'AdamW epsilon.',
  },
  loraRank: { type: 'int', min: 1, max: 512, scales: ['LORA'], default: 8, description: 'LoRA rank r.' },
  loraAlpha: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 4096,
    scales: ['LORA'],
    default: 8,
    description: 'LoRA scaling alpha; the update is scaled by alpha / r.',
  },
  loraDropout: {
    type: 'float',
    min: 0,
    max: 0.9,
    scales: ['LORA'],
    default: 0,
    description: 'Dropout on the LoRA input.',
  },
  loraTargets: {
    type: 'modules',
    maxItems: 64,
    itemMaxLength: 128,
    scales: ['LORA'],
    default: ['q_proj', 'v_proj'],
    description:
      'Module names to adapt (e.g. q_proj, v_proj), or the single entry "all-linear" for every linear layer except the output head, as PEFT means it.',
  },
  numVirtualTokens: {
    type: 'int',
    min: 1,
    max: 1024,
    scales: ['PROMPT_TUNING'],
    default: 20,
    description:
      "Number of trained virtual tokens prepended to every input; they take positions of the model's maximum sequence length.",
  },
  promptTuningInitText: {
    type: 'string',
    nullable: true,
    maxLength: 4096,
    scales: ['PROMPT_TUNING'],
    default: null,
    description:
      "Initialise the virtual tokens from this text's token embeddings (peft's PromptTuningInit.TEXT); null: random.",
  },
  maxSequenceLength: {
    type: 'int',
    nullable: true,
    min: 2,
    max: MAX_SEQUENCE_LENGTH_LIMIT,
    maxFor: (ctx) => Math.min(MAX_SEQUENCE_LENGTH_LIMIT, ctx.modelMaxSequenceLength ?? Infinity),
    default: (ctx, earlier) =>
      defaultSequenceLength(
        ctx.modelMaxSequenceLength,
        ctx.parameterScale === 'PROMPT_TUNING' ? (earlier.numVirtualTokens as number) : 0,
      ),
    defaultNote:
      "min(1024, the base model's maximum sequence length, less numVirtualTokens for PROMPT_TUNING)",
    description:
      "Longest tokenized example; longer ones are truncated. With PROMPT_TUNING's virtual tokens, at most the base model's maximum sequence length.",
  },
  seed: {
    type: 'int',
    min: 0,
    max: 2147483647,
    default: 42,
    description: 'Seed of the data shuffle, initialisation and dropout.',
  },
  shuffle: { type: 'boolean', default: true, description: 'Shuffle the training rows every epoch.' },
  checkpointEverySteps: {
    type: 'int',
    min: 0,
    max: 1_000_000,
    resumeFree: true,
    // A queued job whose worker dies continues from the latest checkpoint on another worker.
    default: (ctx) => (ctx.runner === 'job' ? 50 : 0),
    defaultNote: '50 for jobs, 0 for `whetstone train`',
    description:
      'Save a checkpoint every N optimizer steps (0: only at the end and on cancellation). A job whose worker dies continues from the latest one.',
  },
  sequenceBucket: {
    type: 'int',
    min: 1,
    max: MAX_SEQUENCE_LENGTH_LIMIT,
    only: 'engine',
    default: 16,
    description:
      'Sequence lengths are padded up to a multiple of this, so few distinct graph shapes are compiled.',
  },
  validationSplitRatio: {
    type: 'float',
    min: 0,
    max: 0.5,
    default: 0,
    description:
      "Fraction of the training rows held out for validation (seeded by seed); the dataset's own validation split is always part of the validation rows.",
  },
  evalEverySteps: {
    type: 'int',
    min: 0,
    max: 1_000_000,
    resumeFree: true,
    default: 0,
    description:
      "Every N optimizer steps, measure the model on the validation rows and report it in the progress stream and the stored step metrics (0: never): the method's loss (eval_loss) for SFT, REWARD_MODEL and DPO; for RL the reward model's mean score of the policy's greedy completion of each validation prompt (eval_reward_mean), after the iteration that reaches the step.",
  },
  evalMetricsAtEpochEnd: {
    type: 'boolean',
    methods: ['SFT'],
    resumeFree: true,
    default: false,
    description:
      'At the end of each epoch, also answer the validation prompts (greedy) and report the means of accuracy, F1, ROUGE-1/2/L (precision, recall, F) and BLEU-4 as eval_<metric>.',
  },
  evalMaxNewTokens: {
    type: 'int',
    min: 1,
    max: MAX_SEQUENCE_LENGTH_LIMIT,
    methods: ['SFT'],
    resumeFree: true,
    default: 64,
    description: 'Most tokens of each answer generated for evalMetricsAtEpochEnd.',
  },
});

/** Fields that come after the methods' own ones in the schema. */
export const RUN_FIELDS = defineFields({
  mixedPrecision: {
    type: 'boolean',
    default: false,
    description:
      'float16 matrix products with float32 master weights and dynamic loss scaling, for GPUs (WEBGPU); docs/gpu.md has its parity with float32 and its speed.',
  },
  mixedPrecisionCompute: {
    type: 'enum',
    values: ['float16', 'float32'] as const,
    only: 'engine',
    default: 'float16',
    enumName: 'MixedPrecisionCompute',
    enumDescription: 'Where mixedPrecision multiplies.',
    valueDescriptions: {
      float16: 'Products in float16 (WebGPU accumulates them in float16).',
      float32:
        'Operands rounded to float16, products and their sums in float32 (float16 storage, float32 compute).',
    },
    description:
      'With mixedPrecision: float16 products, or operands rounded to float16 and multiplied in float32 (docs/gpu.md).',
  },
  executionProvider: {
    type: 'enum',
    values: PROVIDER_NAMES,
    only: 'job',
    default: 'CPU',
    enumName: 'ExecutionProvider',
    enumDescription: 'The ONNX Runtime execution provider a worker runs on.',
    valueDescriptions: {
      CPU: 'The CPU.',
      WEBGPU: 'Any GPU through WebGPU (Vulkan, Metal, D3D12).',
      CUDA: 'NVIDIA GPUs, where the CUDA libraries are installed.',
    },
    description:
      'Where the worker runs the training: CPU, WEBGPU (any GPU through Vulkan/Metal/D3D12) or CUDA.',
  },
});

/**
 * The sequence length a run uses when none is given: 1024 positions at most, within the model's limit less the
 * virtual tokens that prompt tuning puts ahead of the text. Null when the model is not known yet.
 */
export function defaultSequenceLength(modelMax: number | undefined, virtualTokens: number): number | null {
  return modelMax === undefined ? null : Math.min(1024, modelMax - virtualTokens);
}
