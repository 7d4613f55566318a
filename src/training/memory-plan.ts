/**
 * The memory plan of a training job: before the first step, estimate the peak resident memory of the job's model,
 * method, parameter scale, batch and sequence length, and choose the memory layout (query-blocked attention,
 * chunked head + loss, per-layer activation checkpointing) that fits the worker's budget, or refuse the job with
 * the estimate, the budget and what to change. The API runs the same estimate on the model's stored shape, so a
 * job no worker can fit is refused when it is created. Coefficients are calibrated against measured peaks
 * (`npm run bench:scale`); see the README of src/training.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseMemoryBudget } from '../config';
import { sizeOf } from '../engine/graph';
import { freeGpuMemory } from '../engine/gpu-memory';
import { UserInputError } from '../errors';
import type { HalfWeights } from '../models/generate';
import { batchWidth, generationShape } from '../models/generation-shape';
import { MemoryLayout } from '../models/memory-layout';
import { paddedLength } from './alignment/padding';
import { promptLength, rlRowLength } from './alignment/rl/rows';
import type { LoadedModel, ResolvedAdapter } from '../models/model';
import type { EngineScale } from '../vocabulary';
import { Hyperparameters, defaultSequenceLength } from './hyperparameters';
import type { MethodName } from './methods';

/** The dimensions the estimate needs (config.json's, as the API stores them for a registered model). */
export interface ModelShape {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  /** Bytes per stored weight (2 where config.json declares float16 or bfloat16); absent: 4. */
  weightBytes?: number;
}

export interface MemoryJob {
  shape: ModelShape;
  /** Every weight of the checkpoint. */
  parameters: number;
  /** Tensors the optimizer updates (all of them for a full update, the adapter's otherwise). */
  trainableParameters: number;
  method: MethodName;
  batchSize: number;
  /** Tokens per sample the model sees (prompt tuning's virtual tokens included), maxSequenceLength's. */
  sequenceLength: number;
  /** RL: completions per prompt (each one a row of the update's batch). */
  numGenerations?: number;
  /** RL: the widest row its steps run of `sequenceLength` tokens (`stepLength`); absent, `sequenceLength`. */
  rowLength?: (sequenceLength: number) => number;
}

export interface MemoryEstimate {
  totalBytes: number;
  parts: {
    runtime: number;
    weights: number;
    trainState: number;
    activations: number;
    attention: number;
    logits: number;
  };
}

const F32 = 4;
export const GIB = 2 ** 30;

/**
 * Calibration (bench:scale, 0.5B shape, LoRA, CPU): `weightCopies` resident float32 copies of each frozen weight
 * (1: the mapped checkpoint pages, not pre-packed; a 16-bit checkpoint's weights, upcast once per session, unless
 * layers are checkpointed: see `estimatePeak`);
 * `layerFloats` per token and layer of saved activations in units of (hidden, intermediate, projections); the
 * ONNX Runtime process floor.
 */
export const CALIBRATION = {
  runtimeBytes: 0.6 * GIB,
  weightCopies: 1,
  /** Saved activations per token per layer: a * hidden + b * intermediate + c * (q + 2 kv) floats. */
  layerFloats: { hidden: 12, intermediate: 5, projections: 3 },
  /** Score-sized tensors alive per attention of the plain path (scores, probabilities, their gradient). */
  scoreCopies: 3,
  /** Logits-sized tensors alive in the plain loss (logits, log-softmax, gradient). */
  logitCopies: 3,
  /**
   * Fitted, not attributed: the 0.5B shape with every option on peaked 4.6 and 6.8 GiB at 2,048 and 4,096 tokens
   * where the other terms gave 3.3 and 3.8, and this term (vocabulary-sized float32 rows per token, applied when
   * the loss is chunked) covers the excess. The loss is not its cause: hidden 896 with a vocabulary of 32,000 shows
   * the same excess (2 layers, 4,096 tokens: 3,958 MiB measured), and it comes with the second layer (1, 2 and 4
   * layers: 2,304, 3,958 and 4,155 MiB; at 2,048 tokens 1,000, 1,610 and 1,587 for 1, 2 and 3): about one
   * (heads, T, T) float32 tensor and one layer's working set more than the other terms count. Its likely cause:
   * the process's live allocations at the peak hold 4-5 buffers of each attention block's size (2,048 tokens, 14
   * heads, 2 layers: all 16 block sizes, 500-620 MB) while onnxruntime's live tensors stay small, which is what its
   * sequential allocation planner does when it gives a dead buffer to a later tensor of the same size and holds it
   * until then (a block's size, its key count, is next needed by the same block of the next layer or of the backward
   * pass). onnxruntime's parallel mode plans no such reuse; that step peaked 529 instead of 1,222 MiB, but ran 2x
   * slower, and onnxruntime-node offers no switch for the reuse alone.
   */
  chunkedLossRows: 1.4,
  /** Trainable float32 tensors per parameter: value, gradient, two moments, and the step's new three. */
  stateCopies: 7,
};

/**
 * Calibration of a generation (models/generate.ts: a prefill session and a decode session with a static KV cache,
 * CPU), against per-process peaks (VmHWM, the checkpoint's pages that both sessions map counted once:
 * test/unit/training/generation-memory.test.ts) of random LLaMA-style models on a 2-core machine, measured /
 * estimated MiB: 37M parameters, 1 x (16 + 16) tokens, float32 271-281 / 355, bfloat16 folded 350 / 429 and cast
 * at each use 289 / 305; bfloat16, 4 x (32 + 64) tokens, 74M parameters (vocabulary 32,000) folded 477 / 652 and
 * cast 382 / 509, 174M (vocabulary 64,000) folded 930 / 1224 and cast 680-709 / 887; 8 layers of 8 kv heads of
 * 64 (KV cache sets of 32 to 144 MiB), batch x (prompt + new) 16 x (16 + 16) 404 / 463, 4 x (24 + 232) 445 / 511,
 * 8 x (24 + 232) 629 / 759, 8 x (24 + 488) 969 / 1151, 8 x (200 + 56) 685 / 850; prefill scores (hidden 64),
 * 8 x (256 + 16) 182 / 260, 8 x (512 + 16) 272 / 377 (2 layers) and 328 / 418 (8 layers); the floor,
 * 1 x (16 + 16) on 0.1M parameters, 120-160 / 206.
 */
export const GENERATION_CALIBRATION = {
  /** The process with onnxruntime loaded and a small model generating (measured 120-160 MiB). */
  runtimeBytes: 0.2 * GIB,
  /**
   * Float32 copies of the largest 16-bit weight (the LM head, cast where a run uses it) resident at once: decode
   * steps cast at each use peaked 140 MiB above the prefill's resident memory where the head's cast is 94 MiB.
   */
  castCopies: 1.5,
  /**
   * KV caches (every layer's keys and values) resident: the host's one set, written in place with each run's new
   * slots, and onnxruntime's copies while a run writes them (measured on 8 layers of 8 key/value heads: 0.8 to 2.7
   * sets above the other parts, at 16 x (16 + 16), 4 x (24 + 232), 8 x (200 + 56) and 8 x (24 + 488) tokens; 4.1
   * to 5 sets when every step handed whole caches back).
   */
  cacheCopies: 3,
  /** Score-sized tensors of one layer's attention in the prefill (scores, masked scores, probabilities, mask). */
  scoreCopies: 4,
  /**
   * Float32 copies of the host's tensors: the host's, and each session's, inline in its model bytes and parsed
   * (measured 3.9: a LoRA of rank 512 on every linear layer, 86 MiB, raised the 37M-parameter model's peak by
   * 334 MiB).
   */
  hostCopies: 4.5,
  /** Activations per prompt token of the one layer the prefill runs at a time, as in `CALIBRATION.layerFloats`. */
  layerFloats: { hidden: 4, intermediate: 3, projections: 2 },
};

/** One generate call as the estimate sees it: an evaluation's widest batch, or a playground prompt. */
export interface GenerationMemoryJob {
  shape: ModelShape;
  parameters: number;
  batchSize: number;
  /** The batch's prompt width before the Generator's rounding (an evaluation's bucketed width). */
  promptWidth: number;
  maxNewTokens: number;
  /** A prompt-tuning adapter's virtual tokens (they precede the prompt in every slot layout). */
  virtualTokens: number;
  /**
   * Float32 tensors the sessions take from the host (an adapter's: LoRA's A and B, prompt tuning's virtual token
   * embeddings; a full update's trained weights during training), each session copying them; absent: none.
   */
  copiedParameters?: number;
}

export interface GenerationEstimate {
  totalBytes: number;
  parts: { runtime: number; weights: number; kvCache: number; prefill: number };
}

/**
 * The peak resident memory of one generate call of `job` (CPU; see GENERATION_CALIBRATION) whose 16-bit weights
 * are handled as `halfWeights` says (GeneratorOptions): the mapped checkpoint, once, plus for a 16-bit one the
 * float32 head its casts make, or folded, the decode session's float32 copy of every weight.
 */
export function estimateGeneration(
  job: GenerationMemoryJob,
  halfWeights: HalfWeights = 'fold',
): GenerationEstimate {
  const { numLayers: l, numKvHeads: kv, headDim: d, vocabSize: v } = job.shape;
  const k = GENERATION_CALIBRATION;
  const b = job.batchSize;
  const { width, slots } = generationShape(job);
  const t = job.virtualTokens + width;
  const stored = job.shape.weightBytes ?? F32;
  // The prefill's queries read every slot; its logits are taken at each row's last token only (logitsAt).
  const prefill = forwardBytes(job.shape, b, t, slots, v);
  // A 16-bit checkpoint's LM head is cast where a run uses it; folded, the decode session (made after the
  // prefill has run) holds a float32 copy of every weight instead.
  const head = castHead(job.shape);
  const casts = stored === F32 ? 0 : halfWeights === 'fold' ? Math.max(job.parameters * F32, head) : head;
  const parts = {
    runtime: k.runtimeBytes,
    weights: job.parameters * stored + casts + (job.copiedParameters ?? 0) * F32 * k.hostCopies,
    kvCache: k.cacheCopies * 2 * l * b * kv * slots * d * F32,
    prefill,
  };
  return { totalBytes: Object.values(parts).reduce((a, x) => a + x, 0), parts };
}

/**
 * One forward-only run of `b` rows of `t` tokens whose queries read `keys` positions, one layer at a time (a
 * generation's prefill, a reward model's scoring), with `width` outputs at each row's last token.
 */
function forwardBytes(shape: ModelShape, b: number, t: number, keys: number, width: number): number {
  const { hiddenSize: c, numHeads: h, numKvHeads: kv, headDim: d, intermediateSize: inter } = shape;
  const k = GENERATION_CALIBRATION;
  const perToken =
    k.layerFloats.hidden * c +
    k.layerFloats.intermediate * inter +
    k.layerFloats.projections * (h + 2 * kv) * d;
  return (b * t * perToken + k.scoreCopies * b * h * t * keys + 2 * b * width) * F32;
}

/** The float32 copies of a 16-bit checkpoint's vocabulary-sized weight its casts at each use make. */
const castHead = (shape: ModelShape) =>
  GENERATION_CALIBRATION.castCopies * shape.vocabSize * shape.hiddenSize * F32;

/** Prompt tuning's virtual tokens, which take positions ahead of the text (none at the other scales). */
export const virtualTokensOf = (scale: EngineScale, hp: Pick<Hyperparameters, 'numVirtualTokens'>): number =>
  scale === 'prompt_tuning' ? hp.numVirtualTokens : 0;

/** How a generation runs within its budget: the 16-bit weights' handling the Generator is given, and its estimate. */
export interface GenerationPlan {
  halfWeights: HalfWeights;
  estimate: GenerationEstimate;
}

/**
 * The plan of a generation within `budgetBytes`: 16-bit weights folded into a float32 copy (faster decoding) where
 * that fits, else cast at each use. Neither fitting is a UserInputError (code MEMORY_BUDGET_EXCEEDED, as
 * `planMemory`) stating the estimate, the budget, and the batchSize (for an evaluation) or maxNewTokens that would
 * fit.
 */
export function checkGenerationMemory(
  job: GenerationMemoryJob,
  budget: number | MemoryBudget,
  what: 'evaluation' | 'generation',
): GenerationPlan {
  const { bytes: budgetBytes, what: limit } =
    typeof budget === 'number' ? { bytes: budget, what: WORKER_BUDGET } : budget;
  const folded = estimateGeneration(job, 'fold');
  if (folded.totalBytes <= budgetBytes) return { halfWeights: 'fold', estimate: folded };
  const estimate = estimateGeneration(job, 'cast');
  if (estimate.totalBytes <= budgetBytes) return { halfWeights: 'cast', estimate };
  const fits = (j: GenerationMemoryJob) => estimateGeneration(j, 'cast').totalBytes <= budgetBytes;
  const batch = what === 'evaluation' ? largest(job.batchSize - 1, (n) => fits({ ...job, batchSize: n })) : 0;
  const tokens = largest(job.maxNewTokens - 1, (n) => fits({ ...job, maxNewTokens: n }));
  const changes = [batch ? `batchSize ${batch}` : '', tokens ? `maxNewTokens ${tokens}` : ''].filter(Boolean);
  const p = estimate.parts;
  throw new UserInputError(
    `this ${what} needs an estimated ${gib(estimate.totalBytes)} of memory (batch ${job.batchSize} x ` +
      `${job.promptWidth} prompt + ${job.maxNewTokens} new tokens: weights ${gib(p.weights)}, KV cache ` +
      `${gib(p.kvCache)}, prefill ${gib(p.prefill)}), more than ${limit} of ${gib(budgetBytes)}; ` +
      (changes.length
        ? `lower it: ${changes.join(', or ')}`
        : `no ${what === 'evaluation' ? 'batch size or ' : ''}maxNewTokens fits: use a smaller model or a ` +
          'worker with more memory'),
    [batch ? 'batchSize' : tokens ? 'maxNewTokens' : 'baseModelId'],
    'MEMORY_BUDGET_EXCEEDED',
  );
}

/**
 * The validation prompts evalMetricsAtEpochEnd generates for, where known: the longest one's tokens and how many
 * there are (those an evaluation encodes within the model's positions, run-evaluation.ts
 * `measureEvaluationPrompts` on the worker, the API's prompt-fit.ts `fittingPrompts`), and the model's positions.
 */
export interface ValidationPrompts extends PromptsExtent {
  maxPositions: number;
}

/** The longest of some prompts, in tokens, and how many there are. */
export interface PromptsExtent {
  longestTokens: number;
  count: number;
}

/**
 * The prompt width of evalMetricsAtEpochEnd's widest batch: the longest validation prompt's (`batchWidth`, as
 * validation.ts's Generator pads it) where `prompts` are known; else, the bound, prompts as long as the training's
 * text (maxSequenceLength).
 */
export function validationPromptWidth(
  job: Pick<MemoryJob, 'sequenceLength'>,
  virtualTokens: number,
  evalMaxNewTokens: number,
  prompts?: ValidationPrompts,
): number {
  return prompts
    ? batchWidth(prompts.longestTokens, prompts.maxPositions, virtualTokens, evalMaxNewTokens)
    : job.sequenceLength - virtualTokens;
}

/**
 * The budget a training job's steps may use where evalMetricsAtEpochEnd generates answers during it (validation.ts,
 * `batchSize` rows at a time, no more than there are prompts where they are known and none where there are none,
 * `validationPromptWidth` wide): `budget` less what that generation adds while the training's sessions stay
 * resident. It casts 16-bit weights at each use (halfWeights 'cast'); the base checkpoint's mapped pages are the
 * training's; a full update's trained weights are copied by the host and each session, an adapter's likewise.
 */
export function lessTrainingGeneration(
  budget: MemoryBudget,
  job: MemoryJob,
  o: {
    scale: EngineScale;
    hp: Pick<Hyperparameters, 'evalMetricsAtEpochEnd' | 'evalMaxNewTokens' | 'numVirtualTokens'>;
    validationPrompts?: ValidationPrompts;
  },
): MemoryBudget {
  const rows = Math.min(job.batchSize, o.validationPrompts?.count ?? job.batchSize);
  if (!o.hp.evalMetricsAtEpochEnd || rows === 0) return budget;
  const virtualTokens = virtualTokensOf(o.scale, o.hp);
  const promptWidth = validationPromptWidth(job, virtualTokens, o.hp.evalMaxNewTokens, o.validationPrompts);
  const extra = trainingGenerationBytes(job, o.scale, 'cast', {
    batchSize: rows,
    promptWidth,
    maxNewTokens: o.hp.evalMaxNewTokens,
    virtualTokens,
  });
  return {
    bytes: budget.bytes - extra,
    what: `${budget.what} less the ${gib(extra)} evalMetricsAtEpochEnd's generation adds`,
  };
}

/**
 * What a generate call on the model as trained so far adds to the training's resident memory (`estimateGeneration`
 * of the Generator that validation.ts and RL build on `trainedModel`): the base checkpoint's mapped pages are the
 * training's; a full update's trained weights are copied by the host and each session, an adapter's likewise.
 */
function trainingGenerationBytes(
  job: MemoryJob,
  scale: EngineScale,
  halfWeights: HalfWeights,
  run: Pick<GenerationMemoryJob, 'batchSize' | 'promptWidth' | 'maxNewTokens' | 'virtualTokens'>,
): number {
  const generation: GenerationMemoryJob = {
    ...run,
    shape: job.shape,
    parameters: scale === 'full' ? 0 : job.parameters,
    copiedParameters: job.trainableParameters,
  };
  const e = estimateGeneration(generation, halfWeights);
  return e.totalBytes - e.parts.runtime - generation.parameters * (job.shape.weightBytes ?? F32);
}

/**
 * A reward model as the plan sees it (RL scores its completions with one): its shape, every weight, and how many of
 * them are host float32 tensors rather than mapped from the checkpoint (all of a LoRA reward model's, merged).
 */
export interface RewardModelSize {
  shape: ModelShape;
  parameters: number;
  inMemoryParameters: number;
}

/** The multiple reward-scorer.ts pads the length of each batch of scored sequences to. */
export const REWARD_BUCKET = 16;

/**
 * Float32 copies of a reward model's host tensors resident while it scores (the host's, and the session's, given
 * them as in-memory external data; a LoRA reward model's, merged): an RL job scoring 8 x 130 tokens
 * (rl-peak.child.ts) peaked 284 and 360 MiB above the same job scored by a mapped 20 MiB float32 folder with a
 * 148 MiB merged model (LoRA on q/v, on every linear layer): 1.9 and 2.4 copies.
 */
export const REWARD_HOST_COPIES = 3;

/**
 * The peak a reward model's scoring session adds (reward-scorer.ts: a forward-only session over `rows` x `tokens`,
 * the score head at each row's last token): the checkpoint's mapped weights and the float32 copies a 16-bit one's
 * casts at each use make, its host tensors as the host and the session hold them, one layer's activations.
 */
export function estimateRewardScoring(
  reward: RewardModelSize,
  rows: number,
  tokens: number,
): { totalBytes: number; parts: { weights: number; forward: number } } {
  const stored = reward.shape.weightBytes ?? F32;
  const mapped = reward.parameters - reward.inMemoryParameters;
  const t = paddedLength(tokens, REWARD_BUCKET);
  const parts = {
    weights:
      mapped * stored +
      (mapped && stored < F32 ? castHead(reward.shape) : 0) +
      reward.inMemoryParameters * F32 * REWARD_HOST_COPIES,
    forward: forwardBytes(reward.shape, rows, t, t, 1),
  };
  return { totalBytes: parts.weights + parts.forward, parts };
}

/**
 * The budget an RL job's optimizer steps may use: `budget` less what its sampling and reward scoring add while the
 * training's sessions stay resident. Each iteration first samples (rl-trainer.ts: a Generator on the policy as
 * trained so far, released after it; batchSize x numGenerations prompts of what maxSequenceLength leaves the
 * completion, maxNewTokens new tokens, 16-bit weights as `halfWeights` says), then scores every completion at once
 * (prompt + completion + EOS) with the reward model, whose weights stay resident for the whole run: the share is
 * those weights plus the larger of the sampling and the scoring forward, which never run at once.
 */
export function lessRlSampling(
  budget: MemoryBudget,
  job: MemoryJob,
  o: {
    scale: EngineScale;
    hp: Pick<Hyperparameters, 'maxNewTokens' | 'numVirtualTokens'>;
    reward?: RewardModelSize;
  },
  halfWeights: HalfWeights,
): MemoryBudget & { sampling: number; scoring: { weights: number; forward: number } } {
  const rows = stepRows(job);
  const maxNewTokens = o.hp.maxNewTokens;
  const virtualTokens = virtualTokensOf(o.scale, o.hp);
  // The sampling driver tokenizes prompts to what the completion leaves of maxSequenceLength.
  const promptWidth = Math.max(promptLength(job.sequenceLength - virtualTokens, o.hp), 1);
  const sampling = trainingGenerationBytes(job, o.scale, halfWeights, {
    batchSize: rows,
    promptWidth,
    maxNewTokens,
    virtualTokens,
  });
  const scoring = o.reward
    ? estimateRewardScoring(o.reward, rows, promptWidth + maxNewTokens + 1).parts
    : { weights: 0, forward: 0 };
  const extra = scoring.weights + Math.max(sampling, scoring.forward);
  return {
    bytes: budget.bytes - extra,
    what:
      `${budget.what} less the ${gib(extra)} RL's sampling and reward scoring add (the reward model's weights ` +
      `${gib(scoring.weights)}, then the larger of sampling ${rows} x ${promptWidth} + ${maxNewTokens} tokens ` +
      `${gib(sampling)} and scoring ${gib(scoring.forward)})`,
    sampling,
    scoring,
  };
}

/** A training job's plan (`planMemory`) with what runs beside its steps and RL's sampling choice. */
export interface TrainingMemoryPlan extends MemoryPlan {
  /**
   * What runs beside the steps while the training's sessions stay resident (evalMetricsAtEpochEnd's generation,
   * RL's sampling and reward scoring): the job's estimated peak is `estimate.totalBytes` plus this.
   */
  besideBytes: number;
  /** RL: how the sampling Generator handles 16-bit weights (GeneratorOptions.halfWeights). */
  samplingHalfWeights?: HalfWeights;
}

/**
 * The plan of a training job, the one the API runs at creation and the worker before its first step: `planMemory`
 * within the budget less evalMetricsAtEpochEnd's generation (`lessTrainingGeneration`) and, for RL, less its
 * sampling and reward scoring (`lessRlSampling`), the sampling folding 16-bit weights where that fits and casting
 * them at each use otherwise. Nothing fitting is planMemory's refusal, naming the budget less those shares.
 */
export function planTrainingMemory(
  job: MemoryJob,
  budget: MemoryBudget,
  o: {
    scale: EngineScale;
    hp: Pick<
      Hyperparameters,
      'evalMetricsAtEpochEnd' | 'evalMaxNewTokens' | 'numVirtualTokens' | 'maxNewTokens'
    >;
    reward?: RewardModelSize;
    validationPrompts?: ValidationPrompts;
  },
): TrainingMemoryPlan {
  const within = (b: MemoryBudget) => ({ ...planMemory(job, b), besideBytes: budget.bytes - b.bytes });
  const training = lessTrainingGeneration(budget, job, o);
  if (job.method !== 'RL') return within(training);
  try {
    return { ...within(lessRlSampling(training, job, o, 'fold')), samplingHalfWeights: 'fold' };
  } catch (err) {
    // A float32 checkpoint has nothing to fold: both estimates are the same.
    if (!(err instanceof UserInputError) || (job.shape.weightBytes ?? F32) === F32) throw err;
  }
  return { ...within(lessRlSampling(training, job, o, 'cast')), samplingHalfWeights: 'cast' };
}

/** Rows in one forward/backward pass: preference pairs are stacked, RL updates every completion. */
export function stepRows(job: MemoryJob): number {
  if (job.method === 'REWARD_MODEL' || job.method === 'DPO') return 2 * job.batchSize;
  if (job.method === 'RL') return job.batchSize * (job.numGenerations ?? 1);
  return job.batchSize;
}

/** Tokens in each row of a step: collated rows are padded no further; RL's are prompt + completion, as scored. */
export function stepLength(job: MemoryJob): number {
  return job.rowLength?.(job.sequenceLength) ?? job.sequenceLength;
}

/** The peak resident memory of one optimizer step of `job` under `layout`. */
export function estimatePeak(job: MemoryJob, layout: MemoryLayout = {}): MemoryEstimate {
  const { hiddenSize: c, numLayers: l, numHeads: h, numKvHeads: kv, headDim: d } = job.shape;
  const { intermediateSize: inter, vocabSize: v } = job.shape;
  const b = stepRows(job);
  const t = stepLength(job);
  const k = CALIBRATION;
  const frozen = Math.max(job.parameters - job.trainableParameters, 0);
  const perLayer =
    k.layerFloats.hidden * c +
    k.layerFloats.intermediate * inter +
    k.layerFloats.projections * (h + 2 * kv) * d;
  // Checkpointing keeps each layer's input and recomputes one layer at a time during backward.
  const activations = layout.checkpointLayers ? (l * c + perLayer) * b * t * F32 : l * perLayer * b * t * F32;
  // Plain attention keeps every layer's (B, H, T, T) probabilities for backward; blocked attention keeps one
  // (B, H, block, T) block at a time (plus (B, H, T) statistics per layer).
  const attention = layout.attentionBlock
    ? (k.scoreCopies * b * h * Math.min(layout.attentionBlock, t) * t + l * b * h * t) * F32
    : (l + k.scoreCopies - 1) * b * h * t * t * F32;
  // A reward model's score head has one output per row: no vocabulary-sized tensor.
  const width = job.method === 'REWARD_MODEL' ? 1 : v;
  const chunk = Math.min(layout.lossChunk ?? t, t);
  const held = chunk < t ? k.chunkedLossRows * t : 0;
  const logits = (k.logitCopies * chunk + held) * b * width * F32;
  // With checkpointed layers a 16-bit checkpoint's frozen weights stay 16-bit, each layer's cast to float32 while
  // it runs, and the head's once for the chunked loss (nn.ts `linearCrossEntropy`): one float32 head exists while
  // the loss runs. Otherwise the casts are folded into float32 initializers.
  const stored = job.shape.weightBytes ?? F32;
  const weights =
    layout.checkpointLayers && stored < F32 ? frozen * stored + v * c * F32 : frozen * F32 * k.weightCopies;
  // A full update joins each layer's q/k/v and gate/up weights (models/families/joined.ts): the joined float32
  // copy lives from the layer's forward product to its backward one.
  const full = job.trainableParameters >= job.parameters;
  const joined = full ? l * ((h + 2 * kv) * d + 2 * inter) * c * F32 : 0;
  const parts = {
    runtime: k.runtimeBytes,
    weights,
    trainState: job.trainableParameters * F32 * k.stateCopies + joined,
    activations,
    attention,
    logits,
  };
  return { totalBytes: Object.values(parts).reduce((a, x) => a + x, 0), parts };
}

/** Layouts from the cheapest in recomputation to the most frugal; the plan takes the first that fits. */
export const LAYOUTS: readonly MemoryLayout[] = [
  {},
  { lossChunk: 1024 },
  { lossChunk: 1024, attentionBlock: 512 },
  { lossChunk: 1024, attentionBlock: 512, checkpointLayers: true },
  { lossChunk: 256, attentionBlock: 128, checkpointLayers: true },
];

export interface MemoryPlan {
  layout: MemoryLayout;
  estimate: MemoryEstimate;
  budgetBytes: number;
}

/**
 * Whether a plan's step sessions may keep onnxruntime's CPU arena (engine/allocator.ts): it holds about one step's
 * transient tensors more than the step needs from the second step on (0.5B shape, 512 tokens, most frugal layout:
 * 3.25 against 2.33 GiB), but spares the page faults of returning them (6.0 against 8.0 s a step, bench:scale's
 * child on an idle machine): where that excess still fits the budget, the faster way.
 */
export function arenaFits({ estimate, budgetBytes }: MemoryPlan): boolean {
  const { activations, attention, logits } = estimate.parts;
  return estimate.totalBytes + activations + attention + logits <= budgetBytes;
}

/** A memory limit and what it is, as a refusal names it. */
export interface MemoryBudget {
  bytes: number;
  /** e.g. "the worker's budget". */
  what: string;
}

const WORKER_BUDGET = "the worker's budget";

export const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/** The largest value in [1, upTo] for which `fits` holds (it is monotone), or 0. */
function largest(upTo: number, fits: (n: number) => boolean): number {
  let lo = 0;
  let hi = upTo;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The first of `layouts` whose estimate fits `budgetBytes`; none fitting is a UserInputError (code
 * MEMORY_BUDGET_EXCEEDED) stating the smallest estimate, the budget, and the batch size or sequence length that
 * would fit.
 */
export function planMemory(
  job: MemoryJob,
  budget: number | MemoryBudget,
  layouts: readonly MemoryLayout[] = LAYOUTS,
): MemoryPlan {
  const { bytes: budgetBytes, what } =
    typeof budget === 'number' ? { bytes: budget, what: WORKER_BUDGET } : budget;
  for (const layout of layouts) {
    const estimate = estimatePeak(job, layout);
    if (estimate.totalBytes <= budgetBytes) return { layout, estimate, budgetBytes };
  }
  const frugal = layouts[layouts.length - 1];
  const estimate = estimatePeak(job, frugal);
  const fits = (j: MemoryJob) => estimatePeak(j, frugal).totalBytes <= budgetBytes;
  const batch = largest(job.batchSize - 1, (n) => fits({ ...job, batchSize: n }));
  const length = largest(job.sequenceLength - 1, (n) => fits({ ...job, sequenceLength: n }));
  const changes = [
    batch ? `batchSize ${batch} (with gradientAccumulationSteps for the same effective batch)` : '',
    length ? `maxSequenceLength ${length}` : '',
    job.trainableParameters >= job.parameters ? 'parameterScale LORA' : '',
  ].filter(Boolean);
  throw new UserInputError(
    `this job needs an estimated ${gib(estimate.totalBytes)} of memory (batch ${job.batchSize} x ` +
      `${job.sequenceLength} tokens, even with blocked attention, chunked loss and checkpointed layers), more ` +
      `than ${what} of ${gib(budgetBytes)}; ` +
      (changes.length
        ? `lower it: ${changes.join(', or ')}`
        : 'no batch size or sequence length fits: use a smaller model or a worker with more memory'),
    ['hyperparameters'],
    'MEMORY_BUDGET_EXCEEDED',
  );
}

/** Bytes of memory the OS can give now (Linux MemAvailable, else free memory). */
function availableBytes(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return os.freemem();
}

/** The training memory budget in bytes: WHETSTONE_MEMORY_BUDGET (see config.ts), else 90% of what is available now. */
export function memoryBudget(env: Record<string, string | undefined> = process.env): number {
  return parseMemoryBudget(env.WHETSTONE_MEMORY_BUDGET) ?? Math.floor(0.9 * availableBytes());
}

/** Every weight of a loaded checkpoint. */
export function parameterCount(model: LoadedModel): number {
  return model.weights.names().reduce((s, n) => s + sizeOf(model.weights.shape(n)), 0);
}

/**
 * The worker's plan before it generates: `checkGenerationMemory` on the loaded model and adapter, against this
 * process's budget, and on a GPU provider the device's (`jobBudget`); the Generator takes its `halfWeights`.
 */
export function checkModelGeneration(
  em: { model: LoadedModel; adapter?: ResolvedAdapter },
  run: Omit<GenerationMemoryJob, 'shape' | 'parameters' | 'copiedParameters'>,
  what: 'evaluation' | 'generation',
  executionProvider: string,
): GenerationPlan {
  const adapter = em.adapter?.weights;
  const job = {
    ...run,
    shape: shapeOf(em.model.config),
    parameters: parameterCount(em.model),
    copiedParameters: adapter ? adapter.names().reduce((s, n) => s + sizeOf(adapter.shape(n)), 0) : 0,
  };
  return checkGenerationMemory(job, jobBudget(executionProvider), what);
}

/**
 * The device memory a job on a GPU provider may use: WHETSTONE_GPU_MEMORY (see config.ts), else 90% of the first
 * NVIDIA GPU's free memory; null where neither is known (no device check: onnxruntime reports no device memory).
 */
export function deviceMemoryBudget(
  env: Record<string, string | undefined> = process.env,
  free: () => number | null = freeGpuMemory,
): MemoryBudget | null {
  const stated = parseMemoryBudget(env.WHETSTONE_GPU_MEMORY, 'WHETSTONE_GPU_MEMORY');
  if (stated !== null) return { bytes: stated, what: 'the device memory of WHETSTONE_GPU_MEMORY' };
  const bytes = free();
  return bytes === null ? null : { bytes: Math.floor(0.9 * bytes), what: "90% of the GPU's free memory" };
}

/**
 * The limit a job's plan must fit: the worker's budget, or on a GPU provider the device's where it is lower (its
 * weights, state and activations live there; the estimate is the CPU's, not yet calibrated on a device).
 */
export function jobBudget(
  executionProvider: string,
  env: Record<string, string | undefined> = process.env,
  free?: () => number | null,
): MemoryBudget {
  const host = { bytes: memoryBudget(env), what: WORKER_BUDGET };
  const device = executionProvider === 'cpu' ? null : deviceMemoryBudget(env, free);
  return device && device.bytes < host.bytes
    ? { ...device, what: `${device.what} (${executionProvider})` }
    : host;
}

const HALF_DTYPES = new Set(['float16', 'bfloat16']);

/** A model's shape from its parsed config (or a stored shape); `raw` is config.json, for its declared dtype. */
export function shapeOf(c: ModelShape & { raw?: Record<string, unknown> }): ModelShape {
  const { hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize, vocabSize } = c;
  const declared = c.raw?.dtype ?? c.raw?.torch_dtype;
  const weightBytes = c.raw ? (HALF_DTYPES.has(String(declared)) ? 2 : F32) : c.weightBytes;
  return {
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    vocabSize,
    ...(weightBytes ? { weightBytes } : {}),
  };
}

/**
 * Tensors of an adapter of `scale` (0 for a full update). LoRA's are bounded by rank x (hidden + the widest
 * projection) per target and layer.
 */
export function adapterParameters(
  shape: Pick<ModelShape, 'hiddenSize' | 'intermediateSize' | 'numLayers'>,
  scale: EngineScale,
  hp: Pick<Hyperparameters, 'numVirtualTokens' | 'loraRank' | 'loraTargets'>,
): number {
  const c = shape.hiddenSize;
  const targets = hp.loraTargets === 'all-linear' ? 7 : hp.loraTargets.length;
  return {
    full: 0,
    lora: hp.loraRank * (c + Math.max(shape.intermediateSize, 3 * c)) * targets * shape.numLayers,
    prompt_tuning: hp.numVirtualTokens * c,
  }[scale];
}

/**
 * A reward model as the API knows it (`RewardModelSize`), from its REWARD_MODEL job's base model (stored shape and
 * parameter count) and scale: a full update's checkpoint is a float32 folder (artifacts.ts), mapped; a LoRA one is
 * merged into host float32 tensors (reward-checkpoint.ts `rewardModelSize`, the worker's count).
 */
export function storedRewardModel(
  shape: Parameters<typeof shapeOf>[0],
  parameters: number,
  scale: EngineScale,
): RewardModelSize {
  const base = shapeOf(shape);
  return scale === 'lora'
    ? { shape: base, parameters, inMemoryParameters: parameters }
    : { shape: { ...base, weightBytes: F32 }, parameters, inMemoryParameters: 0 };
}

/** The job as the plan sees it, from what the API also knows (the stored shape and parameter count). */
export function memoryJob(
  shape: Parameters<typeof shapeOf>[0],
  parameters: number,
  o: {
    method: MethodName;
    scale: EngineScale;
    hp: Pick<
      Hyperparameters,
      | 'batchSize'
      | 'maxSequenceLength'
      | 'numVirtualTokens'
      | 'loraRank'
      | 'loraTargets'
      | 'numGenerations'
      | 'maxNewTokens'
    >;
    maxPositions: number;
  },
): MemoryJob {
  const virtual = virtualTokensOf(o.scale, o.hp);
  const text = o.hp.maxSequenceLength ?? defaultSequenceLength(o.maxPositions, virtual)!;
  const trainable = o.scale === 'full' ? parameters : adapterParameters(shape, o.scale, o.hp);
  return {
    shape: shapeOf(shape),
    parameters,
    trainableParameters: trainable,
    method: o.method,
    batchSize: o.hp.batchSize,
    sequenceLength: text + virtual,
    ...(o.method === 'RL'
      ? {
          numGenerations: o.hp.numGenerations,
          rowLength: (n: number) => virtual + rlRowLength(n - virtual, o.hp, o.maxPositions),
        }
      : {}),
  };
}
