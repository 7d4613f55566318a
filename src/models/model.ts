/**
 * The model contract the trainer, generation and the CLI build on: a loaded Hugging Face folder (normalized config,
 * lazily read weights, tokenizer), adapters in PEFT terms, and `buildCausalLM`, which appends one family's forward
 * pass to a Graph. Which tensors are trainable is a ParamPolicy:
 * - 'full': every HF weight is a graph param (named as in the checkpoint);
 * - 'adapter': base weights are frozen initializers, adapter tensors are params (named as PEFT saves them);
 * - 'frozen': everything is an initializer (inference, the DPO reference).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DType, FileSlice, Graph, Tensor } from '../engine/graph';
import { UserInputError } from '../errors';
import { ModelConfig } from './config';
import { openModelFolder } from './checkpoint-folder';
import { SafetensorsDtype, SafetensorsReader } from './safetensors';
import { TextTokenizer } from './tokenizer';
import { MemoryLayout } from './memory-layout';
import { buildFamily, familyOf } from './families';
import { checkLoraWeights, initLoraWeights, loraSpecFromConfig, mergeLora } from './lora';
import {
  checkPromptWeights,
  promptSpecFromConfig,
  randomPromptWeights,
  textPromptWeights,
} from './prompt-tuning';

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

/** Weights held in memory (adapters, tests, trained values). */
export class MemoryWeights implements WeightStore {
  readonly tensors: Map<string, WeightTensor>;

  constructor(tensors: Iterable<[string, { data: Float32Array; shape: readonly number[] }]> = []) {
    this.tensors = new Map(
      [...tensors].map(([n, t]) => [n, { data: t.data, shape: [...t.shape], dtype: 'float32' }]),
    );
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  shape(name: string): readonly number[] {
    return this.get(name).shape;
  }

  get(name: string): WeightTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no weight named ${name}`);
    return t;
  }
}

const MAPPED_DTYPES: Partial<Record<SafetensorsDtype, DType>> = {
  F32: 'float32',
  BF16: 'bfloat16',
  F16: 'float16',
};

/**
 * Weights of safetensors files. Frozen weights are mapped (the graph points at the file's bytes in their stored
 * dtype and upcasts 16-bit ones to float32 with an exact Cast), so no JavaScript copy exists; `get` reads and
 * converts a copy for trainable starting values and host-side uses, and keeps none.
 */
export class SafetensorsWeights implements WeightStore {
  constructor(
    private readonly reader: SafetensorsReader,
    /** false: frozen weights are float32 copies in the graph (the path before mapping, for comparison). */
    private readonly mapFrozen = true,
  ) {}

  names(): string[] {
    return this.reader.names();
  }

  has(name: string): boolean {
    return this.reader.has(name);
  }

  shape(name: string): readonly number[] {
    return this.reader.entry(name).shape;
  }

  get(name: string): WeightTensor {
    return { data: this.reader.float32(name), shape: this.shape(name), dtype: 'float32' };
  }

  mapped(name: string): { slice: FileSlice; dtype: DType } | null {
    const e = this.reader.entry(name);
    const dtype = MAPPED_DTYPES[e.dtype];
    if (!this.mapFrozen || !dtype) return null;
    return { slice: { file: e.file, offset: e.start, length: e.end - e.start }, dtype };
  }
}

export interface LoadedModel {
  dir: string;
  config: ModelConfig;
  /** Keyed by the checkpoint's names (e.g. model.layers.0.self_attn.q_proj.weight). */
  weights: WeightStore;
  tokenizer: TextTokenizer;
}

/**
 * Open a Hugging Face model folder (config.json, safetensors, tokenizer.json); errors name what is missing.
 * `mapFrozen` (default true) lets sessions map frozen weights from the checkpoint's files.
 */
export async function loadModel(dir: string, opts: { mapFrozen?: boolean } = {}): Promise<LoadedModel> {
  const folder = openModelFolder(path.resolve(dir));
  return {
    dir: folder.folder,
    config: folder.config,
    weights: new SafetensorsWeights(folder.weights, opts.mapFrozen ?? true),
    tokenizer: folder.tokenizer,
  };
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

/** Append the model's forward pass to `g`. */
export function buildCausalLM(g: Graph, m: LoadedModel, opts: CausalLMOptions): CausalLMOutputs {
  return buildFamily(g, m, opts);
}

export type ResolvedAdapter = AdapterSpec & { weights: WeightStore };

/**
 * The adapter with its weights: the given ones after checking names and shapes against the model, or fresh ones as
 * PEFT initializes them (LoRA: A uniform, B zero; prompt tuning: N(0, 1) or the embeddings of `initText`).
 * `random` draws uniform numbers in [0, 1) (the trainer's seeded RNG).
 */
export function resolveAdapter(
  m: LoadedModel,
  spec: AdapterSpec,
  random: () => number,
  where = 'adapter',
): ResolvedAdapter {
  if (spec.kind === 'lora') {
    if (spec.weights) {
      checkLoraWeights(m.config, spec, spec.weights, where);
      return { ...spec, weights: spec.weights };
    }
    return { ...spec, weights: initLoraWeights(m.config, spec, random) };
  }
  if (spec.weights) {
    checkPromptWeights(m.config, spec, spec.weights, where);
    return { ...spec, weights: spec.weights };
  }
  const weights = spec.initText
    ? textPromptWeights(
        m.weights,
        familyOf(m).embeddingName(m),
        m.tokenizer,
        spec.initText,
        spec.numVirtualTokens,
      )
    : randomPromptWeights(m.config, spec.numVirtualTokens, random);
  return { ...spec, weights };
}

/**
 * Initial values of the params `buildCausalLM` declares under `policy` ('full': the checkpoint's weights the
 * forward pass reads; 'adapter': the adapter's tensors), keyed by param name in graph order.
 */
export function initialParameters(
  m: LoadedModel,
  policy: 'full' | 'adapter',
  adapter?: ResolvedAdapter,
): Map<string, WeightTensor> {
  const g = new Graph();
  const { params } = buildCausalLM(g, m, {
    inputIds: g.input('input_ids', [1, 1], 'int64'),
    attentionMask: g.input('attention_mask', [1, 1], 'int64'),
    policy,
    adapter,
  });
  const source = policy === 'full' ? m.weights : adapter?.weights;
  if (!source) throw new Error('initialParameters: policy "adapter" needs an adapter');
  return new Map([...params.keys()].map((name) => [name, source.get(name)]));
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** A PEFT adapter folder (adapter_config.json + adapter_model.safetensors; LORA or PROMPT_TUNING), checked against `m`. */
export function loadAdapter(dir: string, m: LoadedModel): ResolvedAdapter {
  const file = path.join(dir, ADAPTER_CONFIG);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  const missing = [file, weightsFile].filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new UserInputError(
      `${dir} is not a PEFT adapter folder: missing ${missing.map((f) => path.basename(f)).join(', ')}`,
      [dir],
      'BAD_ADAPTER',
    );
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UserInputError(`${file}: not valid JSON (${(err as Error).message})`, [file], 'BAD_ADAPTER');
  }
  const weights = new SafetensorsWeights(SafetensorsReader.open(weightsFile));
  const spec =
    cfg.peft_type === 'LORA'
      ? loraSpecFromConfig(cfg, file)
      : cfg.peft_type === 'PROMPT_TUNING'
        ? promptSpecFromConfig(cfg, file)
        : null;
  if (!spec) {
    throw new UserInputError(
      `${file}: peft_type ${JSON.stringify(cfg.peft_type)} is not supported (LORA, PROMPT_TUNING)`,
      [file, 'peft_type'],
      'BAD_ADAPTER',
    );
  }
  return resolveAdapter(m, { ...spec, weights }, () => 0, weightsFile);
}

/** The model with a LoRA adapter merged into its weights (W + alpha/r * B A), as PEFT's merge_and_unload. */
export function mergeAdapter(m: LoadedModel, adapter: ResolvedAdapter & { kind: 'lora' }): LoadedModel {
  return { ...m, weights: mergeLora(m.config, m.weights, adapter, familyOf(m).checkpointName(m)) };
}
