/**
 * The models' contract as types only: weights, a loaded model, adapter specs, the forward pass's options and
 * outputs. The families import these without the implementation (model.ts, which re-exports them).
 */
import type { DType, FileSlice, Tensor } from '../engine/graph';
import type { ModelConfig } from './config';
import type { MemoryLayout } from './memory-layout';
import type { TextTokenizer } from './tokenizer';
import type { EngineScale } from '../vocabulary';

/** A float32 host tensor (structurally a training HostTensor). */
export interface WeightTensor {
  data: Float32Array;
  shape: readonly number[];
  dtype: 'float32';
}

/** Named float32 weights, read on demand. */
export interface WeightStore {
  names(): string[];
  has(name: string): boolean;
  shape(name: string): readonly number[];
  get(name: string): WeightTensor;
  /** Where a weight's bytes lie in a file, in its stored dtype, when a session can map them (else absent). */
  mapped?(name: string): { slice: FileSlice; dtype: DType } | null;
}

export interface LoadedModel {
  dir: string;
  config: ModelConfig;
  /** Keyed by the checkpoint's names (e.g. model.layers.0.self_attn.q_proj.weight). */
  weights: WeightStore;
  tokenizer: TextTokenizer;
}

export interface LoraSpec {
  kind: 'lora';
  r: number;
  alpha: number;
  dropout: number;
  /** Module names matched as PEFT does (a name or a dotted suffix of the module path), or every linear layer. */
  targets: readonly string[] | 'all-linear';
  /** Keyed by PEFT names (base_model.model.<module>.lora_A.weight); absent: initialize as PEFT does. */
  weights?: WeightStore;
}

export interface PromptSpec {
  kind: 'prompt';
  numVirtualTokens: number;
  /** `prompt_embeddings` (N, hidden); absent: initialize (random, or from `initText` as PEFT does). */
  weights?: WeightStore;
  initText?: string | null;
}

export type AdapterSpec = LoraSpec | PromptSpec;
export type AdapterKind = AdapterSpec['kind'];

/** The adapter kind each adapter scale trains (the scales as the engine spells them, src/vocabulary.ts). */
export const ADAPTER_KIND_OF_SCALE = {
  lora: 'lora',
  prompt_tuning: 'prompt',
} as const satisfies Record<Exclude<EngineScale, 'full'>, AdapterKind>;

/** PEFT's `peft_type` (adapter_config.json) of each adapter kind. */
export const PEFT_TYPES = {
  lora: 'LORA',
  prompt: 'PROMPT_TUNING',
} as const satisfies Record<AdapterKind, string>;

export type ParamPolicy = 'full' | 'adapter' | 'frozen';

/** A random input that must be fed every step: an inverted-dropout keep mask (1/(1-p) or 0) of the input's shape. */
export interface DropoutInput {
  input: Tensor;
  kind: 'dropout';
  p: number;
}

/** Static key/value cache of one layer: (B, Hkv, Tmax, D). */
export interface LayerCache {
  key: Tensor;
  value: Tensor;
}

/**
 * Decoding with a static cache: the new tokens' keys/values are written at slots [slot, slot + T) of every layer's
 * cache; attention then reads all Tmax slots, masked by `attentionMask` (B, Tmax) over the slots (1 = a real token,
 * the new ones included). The options' `positionIds` (required here) give each new token's position.
 */
export interface KvCacheInputs {
  layers: readonly LayerCache[];
  /**
   * A prefill run: under prompt tuning the virtual tokens are prepended (they then take the first slots, and
   * `positionIds` and the new-token count cover them); decode runs add only the new tokens.
   */
  prefill: boolean;
  /** int64 scalar: the first slot the new tokens occupy. */
  slot: Tensor;
}

export interface CausalLMOptions {
  /** (B, T) int64 */
  inputIds: Tensor;
  /** (B, T) int64 or bool, 1 for real tokens; with `cache`, (B, Tmax) over the cache slots. */
  attentionMask: Tensor;
  policy: ParamPolicy;
  adapter?: AdapterSpec;
  /** false: build the base model even though an adapter is given (the DPO reference). Default true. */
  adapterEnabled?: boolean;
  /**
   * (B, L) int64 positions of every token the model sees (L = T, plus the virtual tokens where prepended);
   * default 0..L-1, so text after N virtual tokens starts at position N as in PEFT. Required with `cache`.
   */
  positionIds?: Tensor;
  cache?: KvCacheInputs;
  /** 'lm' (default: the config's head) or 'score' (sequence classification, score.weight). */
  head?: 'lm' | 'score';
  /** (B) int64: compute the head only at these positions; logits become (B, 1, V). */
  logitsAt?: Tensor;
  /** Blocked attention, chunked head and loss, checkpointed layers (default: the plain graph). */
  memoryLayout?: MemoryLayout;
}

export interface CausalLMOutputs {
  /** (B, T, V) or (B, T, numLabels) for 'score'; T excludes virtual tokens; (B, 1, ...) with `logitsAt`. */
  logits: Tensor;
  /** (B, T, C) final-normed hidden states (virtual tokens excluded). */
  hidden: Tensor;
  /** Trainable tensors by graph/artifact name: HF names ('full'), PEFT names ('adapter'); empty for 'frozen'. */
  params: Map<string, Tensor>;
  /** Dropout masks to feed each step (LoRA dropout > 0 in training). */
  noise: DropoutInput[];
  /** The updated caches, with `cache`. */
  present?: LayerCache[];
  /**
   * With MemoryLayout.lossChunk (LM head, no `logitsAt`): the per-token cross-entropy (B, T) of the head against
   * `targets` (B, T), 0 where a target is -100, computed in chunks of tokens without the (B, T, V) logits.
   */
  tokenLosses?: (targets: Tensor) => Tensor;
}

export type ResolvedAdapter = AdapterSpec & { weights: WeightStore };
