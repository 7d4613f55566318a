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
import { DType, FileSlice, Graph } from '../engine/graph';
import { UserInputError } from '../errors';
import { openModelFolder } from './checkpoint-folder';
import { SafetensorsDtype, SafetensorsReader } from './safetensors';
import { buildFamily, familyOf } from './families';
import { checkLoraWeights, initLoraWeights, loraSpecFromConfig, mergeLora } from './lora';
export type {
  WeightTensor,
  WeightStore,
  LoadedModel,
  LoraSpec,
  PromptSpec,
  AdapterSpec,
  ParamPolicy,
  DropoutInput,
  LayerCache,
  KvCacheInputs,
  CausalLMOptions,
  CausalLMOutputs,
  ResolvedAdapter,
} from './types';
import type {
  WeightTensor,
  WeightStore,
  LoadedModel,
  AdapterSpec,
  CausalLMOptions,
  CausalLMOutputs,
  ResolvedAdapter,
} from './types';
import { PEFT_TYPES } from './types';
import {
  checkPromptWeights,
  promptSpecFromConfig,
  randomPromptWeights,
  textPromptWeights,
} from './prompt-tuning';

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

/** Append the model's forward pass to `g`. */
export function buildCausalLM(g: Graph, m: LoadedModel, opts: CausalLMOptions): CausalLMOutputs {
  return buildFamily(g, m, opts);
}

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
    cfg.peft_type === PEFT_TYPES.lora
      ? loraSpecFromConfig(cfg, file)
      : cfg.peft_type === PEFT_TYPES.prompt
        ? promptSpecFromConfig(cfg, file)
        : null;
  if (!spec) {
    throw new UserInputError(
      `${file}: peft_type ${JSON.stringify(cfg.peft_type)} is not supported (${Object.values(PEFT_TYPES).join(', ')})`,
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
