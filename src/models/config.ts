/**
 * A Hugging Face `config.json` -> one normalized `ModelConfig` for the families the engine builds: LLaMA, Qwen2,
 * Baichuan (7B with RoPE) and GPT-2. Field names and defaults follow transformers' configuration classes
 * (LlamaConfig, Qwen2Config, GPT2Config) and Baichuan's own configuration_baichuan.py. Anything the engine would
 * compute differently (RoPE scaling, sliding windows, ALiBi) is rejected with an error naming the field, never
 * silently approximated.
 */
import { FAMILY_NAMES, type FamilyName } from '../vocabulary';
import * as fs from 'node:fs';
import { UserInputError } from '../errors';

export type ModelFamily = FamilyName;
export type ModelHead = 'causal_lm' | 'sequence_classification';
/** silu (LLaMA-style MLPs), gelu_new/gelu_pytorch_tanh (tanh approximation), gelu (erf), relu. */
export type Activation = 'silu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'gelu' | 'relu';

/**
 * RoPE frequency scaling, named as transformers' `rope_type` values (modeling_rope_utils.py): `linear` divides
 * every frequency by `factor`; `llama3` (Llama 3.1+) divides the low frequencies and blends the middle band;
 * `yarn` blends interpolated and extrapolated frequencies over a band of dimensions and scales cos/sin by
 * `attentionFactor`. `dynamic`, `longrope` and `proportional` are refused.
 */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositions: number;
    }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositions: number;
      betaFast: number;
      betaSlow: number;
      attentionFactor: number;
      truncate: boolean;
    };

export interface RopeConfig {
  theta: number;
  scaling: RopeScaling;
}

export interface ModelConfig {
  family: ModelFamily;
  /** `architectures[0]`, e.g. LlamaForCausalLM. */
  architecture: string;
  head: ModelHead;
  /** Outputs of a sequence-classification head (1 for a reward model). */
  numLabels: number;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads; fewer than numHeads means grouped-query attention. */
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  norm: { kind: 'rms' | 'layer'; eps: number };
  activation: Activation;
  /** RoPE with its base and frequency scaling (LLaMA-style), or a learned position table (GPT-2). */
  positions: ({ kind: 'rope' } & RopeConfig) | { kind: 'learned' };
  /** Biases of the q/k/v projections and of the output projection. */
  attentionBias: { qkv: boolean; output: boolean };
  mlpBias: boolean;
  /** The output head shares the token embedding matrix. */
  tieWordEmbeddings: boolean;
  /** Baichuan2's NormHead: the head's weight rows are L2-normalized before use. */
  normHead: boolean;
  bosTokenId: number | null;
  /** One id, or several (a config may list more than one end-of-sequence token). */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** The parsed file, for writing it back with changes. */
  raw: Record<string, unknown>;
}

type Raw = Record<string, unknown>;

/** Reads fields of one config file; every error names the file and the field. */
class Fields {
  constructor(
    readonly raw: Raw,
    readonly file: string,
    /** Where `raw` sits in the file, e.g. `rope_parameters.` */
    readonly prefix = '',
  ) {}

  fail(field: string, what: string): never {
    const at = this.prefix + field;
    throw new UserInputError(`${this.file}: ${at} ${what}`, [this.file, at], 'BAD_MODEL_CONFIG');
  }

  /** The fields of a nested object, with errors naming their full path. */
  nested(field: string): Fields {
    return new Fields(this.raw[field] as Raw, this.file, `${this.prefix}${field}.`);
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }

  int(field: string, fallback?: number): number {
    const v = this.has(field) ? this.raw[field] : fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      this.fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  positive(field: string, fallback?: number): number {
    const v = this.has(field) ? this.raw[field] : fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      this.fail(field, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.has(field) ? this.raw[field] : fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenId(field: string, fallback: number | null): number | null {
    const v = this.has(field) ? this.raw[field] : fallback;
    if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
      this.fail(field, `must be a token id, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  tokenIds(field: string, fallback: number | null): number[] {
    const v = this.raw[field];
    if (Array.isArray(v)) return v.map((_, i) => this.nested(field).tokenId(String(i), null) as number);
    const one = this.tokenId(field, fallback);
    return one === null ? [] : [one];
  }

  activation(field: string, fallback: Activation): Activation {
    const v = this.has(field) ? this.raw[field] : fallback;
    const known: Activation[] = ['silu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu', 'relu'];
    if (!known.includes(v as Activation)) {
      this.fail(field, `${JSON.stringify(v)} is not a supported activation (supported: ${known.join(', ')})`);
    }
    return v as Activation;
  }
}

/** How a family's config.json parses, and the transformers classes (architectures) it may name. */
export interface FamilyConfigSpec {
  architectures: Record<string, ModelHead>;
  parse(
    f: Fields,
    architecture: string,
  ): Omit<ModelConfig, 'family' | 'architecture' | 'head' | 'numLabels' | 'raw'>;
}

/**
 * RoPE base and scaling from `rope_parameters` (transformers 5) or top-level `rope_theta` and `rope_scaling`
 * (older files), with transformers' defaults (standardize_rope_params, _compute_*_parameters).
 */
function ropeConfig(f: Fields, fallbackTheta: number, maxPositions: number): RopeConfig {
  const key = f.has('rope_parameters') ? 'rope_parameters' : f.has('rope_scaling') ? 'rope_scaling' : null;
  const s = key ? f.nested(key) : null;
  const partial = s?.raw.partial_rotary_factor ?? f.raw.partial_rotary_factor;
  if (partial !== undefined && partial !== 1)
    f.fail('partial_rotary_factor', `${partial} is not supported (only 1)`);
  const theta =
    key === 'rope_parameters' && s!.has('rope_theta')
      ? s!.positive('rope_theta')
      : f.positive('rope_theta', fallbackTheta);
  const type = String(s?.raw.rope_type ?? s?.raw.type ?? 'default');
  // The pretraining length: a top-level field wins (Phi-3 files), then the scaling's own, then the model's.
  const originalMaxPositions = () =>
    f.has('original_max_position_embeddings')
      ? f.int('original_max_position_embeddings')
      : s!.int('original_max_position_embeddings', maxPositions);
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: s!.positive('factor') } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: s!.positive('factor'),
          lowFreqFactor: s!.positive('low_freq_factor'),
          highFreqFactor: s!.positive('high_freq_factor'),
          originalMaxPositions: originalMaxPositions(),
        },
      };
    case 'yarn': {
      const original = originalMaxPositions();
      const factor = s!.positive('factor', maxPositions / original);
      return {
        theta,
        scaling: {
          type: 'yarn',
          factor,
          originalMaxPositions: original,
          betaFast: s!.raw.beta_fast ? s!.positive('beta_fast') : 32,
          betaSlow: s!.raw.beta_slow ? s!.positive('beta_slow') : 1,
          attentionFactor: s!.has('attention_factor')
            ? s!.positive('attention_factor')
            : yarnAttentionFactor(factor, s!.raw.mscale as number, s!.raw.mscale_all_dim as number),
          truncate: s!.bool('truncate', true),
        },
      };
    }
    default:
      return f.fail(
        `${key}.rope_type`,
        `"${type}" RoPE scaling is not supported (default, linear, llama3, yarn)`,
      );
  }
}

/** YaRN's cos/sin factor: 0.1 ln(factor) + 1, or the ratio of two such terms with mscale and mscale_all_dim. */
function yarnAttentionFactor(factor: number, mscale?: number, mscaleAllDim?: number): number {
  const term = (m = 1) => (factor <= 1 ? 1 : 0.1 * m * Math.log(factor) + 1);
  return mscale && mscaleAllDim ? term(mscale) / term(mscaleAllDim) : term();
}

/** Attention head layout shared by the LLaMA-style families. */
function heads(f: Fields, defaults: { hiddenSize: number; numHeads: number; numKvHeads?: number }) {
  const hiddenSize = f.int('hidden_size', defaults.hiddenSize);
  const numHeads = f.int('num_attention_heads', defaults.numHeads);
  const numKvHeads = f.int('num_key_value_heads', defaults.numKvHeads ?? numHeads);
  if (numHeads % numKvHeads !== 0) {
    f.fail('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  }
  if (!f.has('head_dim') && hiddenSize % numHeads !== 0) {
    f.fail(
      'num_attention_heads',
      `(${numHeads}) must divide hidden_size (${hiddenSize}) when head_dim is absent`,
    );
  }
  return { hiddenSize, numHeads, numKvHeads, headDim: f.int('head_dim', Math.floor(hiddenSize / numHeads)) };
}

/** config.json parsing of every family, by model_type; families/registry.ts holds the rest of each family. */
export const FAMILY_CONFIGS: Record<ModelFamily, { family: ModelFamily } & FamilyConfigSpec> = {
  llama: {
    family: 'llama',
    architectures: {
      LlamaForCausalLM: 'causal_lm',
      LlamaForSequenceClassification: 'sequence_classification',
    },
    parse: (f) => {
      const attentionBias = f.bool('attention_bias', false);
      if (f.int('pretraining_tp', 1) !== 1) f.fail('pretraining_tp', 'must be 1');
      return {
        vocabSize: f.int('vocab_size', 32000),
        ...heads(f, { hiddenSize: 4096, numHeads: 32 }),
        intermediateSize: f.int('intermediate_size', 11008),
        numLayers: f.int('num_hidden_layers', 32),
        maxPositionEmbeddings: f.int('max_position_embeddings', 2048),
        norm: { kind: 'rms', eps: f.positive('rms_norm_eps', 1e-6) },
        activation: f.activation('hidden_act', 'silu'),
        positions: { kind: 'rope', ...ropeConfig(f, 10000, f.int('max_position_embeddings', 2048)) },
        attentionBias: { qkv: attentionBias, output: attentionBias },
        mlpBias: f.bool('mlp_bias', false),
        tieWordEmbeddings: f.bool('tie_word_embeddings', false),
        normHead: false,
        bosTokenId: f.tokenId('bos_token_id', 1),
        eosTokenIds: f.tokenIds('eos_token_id', 2),
        padTokenId: f.tokenId('pad_token_id', null),
      };
    },
  },
  qwen2: {
    family: 'qwen2',
    architectures: {
      Qwen2ForCausalLM: 'causal_lm',
      Qwen2ForSequenceClassification: 'sequence_classification',
    },
    parse: (f) => {
      if (f.bool('use_sliding_window', false)) f.fail('use_sliding_window', 'true is not supported');
      return {
        vocabSize: f.int('vocab_size', 151936),
        ...heads(f, { hiddenSize: 4096, numHeads: 32, numKvHeads: 32 }),
        intermediateSize: f.int('intermediate_size', 22016),
        numLayers: f.int('num_hidden_layers', 32),
        maxPositionEmbeddings: f.int('max_position_embeddings', 32768),
        norm: { kind: 'rms', eps: f.positive('rms_norm_eps', 1e-6) },
        activation: f.activation('hidden_act', 'silu'),
        positions: { kind: 'rope', ...ropeConfig(f, 10000, f.int('max_position_embeddings', 32768)) },
        // Qwen2Attention always has q/k/v biases and none on o_proj.
        attentionBias: { qkv: true, output: false },
        mlpBias: false,
        tieWordEmbeddings: f.bool('tie_word_embeddings', false),
        normHead: false,
        bosTokenId: f.tokenId('bos_token_id', null),
        eosTokenIds: f.tokenIds('eos_token_id', null),
        padTokenId: f.tokenId('pad_token_id', null),
      };
    },
  },
  baichuan: {
    family: 'baichuan',
    // Baichuan-7B spells its class BaiChuanForCausalLM; Baichuan-13B and Baichuan2 use BaichuanForCausalLM.
    architectures: { BaichuanForCausalLM: 'causal_lm', BaiChuanForCausalLM: 'causal_lm' },
    parse: (f, architecture) => {
      const hiddenSize = f.int('hidden_size', 4096);
      // The 13B models (hidden 5120) replace RoPE with ALiBi; only the 7B layout (hidden 4096, or the
      // BaiChuan spelling) uses RoPE. vLLM tells them apart the same way.
      if (architecture === 'BaichuanForCausalLM' && hiddenSize !== 4096) {
        f.fail(
          'hidden_size',
          `${hiddenSize} marks a Baichuan 13B model, whose ALiBi attention is not supported`,
        );
      }
      const vocabSize = f.int('vocab_size', 64000);
      return {
        vocabSize,
        ...heads(f, { hiddenSize: 4096, numHeads: 32 }),
        intermediateSize: f.int('intermediate_size', 11008),
        numLayers: f.int('num_hidden_layers', 32),
        // Baichuan-13B has only model_max_length.
        maxPositionEmbeddings: f.has('max_position_embeddings')
          ? f.int('max_position_embeddings')
          : f.int('model_max_length', 4096),
        norm: { kind: 'rms', eps: f.positive('rms_norm_eps', 1e-6) },
        activation: f.activation('hidden_act', 'silu'),
        positions: { kind: 'rope', theta: 10000, scaling: { type: 'default' } },
        attentionBias: { qkv: false, output: false },
        mlpBias: false,
        tieWordEmbeddings: f.bool('tie_word_embeddings', false),
        // Baichuan2 (vocabulary 125696) normalizes its head rows (NormHead); Baichuan-7B has a plain head.
        normHead: vocabSize === 125696,
        bosTokenId: f.tokenId('bos_token_id', 1),
        eosTokenIds: f.tokenIds('eos_token_id', 2),
        padTokenId: f.tokenId('pad_token_id', 0),
      };
    },
  },
  gpt2: {
    family: 'gpt2',
    architectures: { GPT2LMHeadModel: 'causal_lm', GPT2ForSequenceClassification: 'sequence_classification' },
    parse: (f) => {
      for (const field of ['scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn']) {
        if (f.bool(field, false)) f.fail(field, 'true is not supported');
      }
      if (!f.bool('scale_attn_weights', true)) f.fail('scale_attn_weights', 'false is not supported');
      const hiddenSize = f.int('n_embd', 768);
      const numHeads = f.int('n_head', 12);
      if (hiddenSize % numHeads !== 0) f.fail('n_head', `(${numHeads}) must divide n_embd (${hiddenSize})`);
      return {
        vocabSize: f.int('vocab_size', 50257),
        hiddenSize,
        numHeads,
        numKvHeads: numHeads,
        headDim: hiddenSize / numHeads,
        intermediateSize: f.int('n_inner', 4 * hiddenSize),
        numLayers: f.int('n_layer', 12),
        maxPositionEmbeddings: f.int('n_positions', 1024),
        norm: { kind: 'layer', eps: f.positive('layer_norm_epsilon', 1e-5) },
        activation: f.activation('activation_function', 'gelu_new'),
        positions: { kind: 'learned' },
        attentionBias: { qkv: true, output: true },
        mlpBias: true,
        tieWordEmbeddings: f.bool('tie_word_embeddings', true),
        normHead: false,
        bosTokenId: f.tokenId('bos_token_id', 50256),
        eosTokenIds: f.tokenIds('eos_token_id', 50256),
        padTokenId: f.tokenId('pad_token_id', null),
      };
    },
  },
};

export const SUPPORTED_MODEL_TYPES: readonly string[] = FAMILY_NAMES;

/** Normalize an already parsed config object; `file` names it in errors. */
export function parseModelConfig(raw: unknown, file = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UserInputError(`${file}: must hold a JSON object`, [file], 'BAD_MODEL_CONFIG');
  }
  const f: Fields = new Fields(raw as Raw, file);
  const modelType = f.raw.model_type;
  const spec =
    typeof modelType === 'string' && Object.hasOwn(FAMILY_CONFIGS, modelType)
      ? FAMILY_CONFIGS[modelType as ModelFamily]
      : undefined;
  if (!spec) {
    f.fail(
      'model_type',
      `${JSON.stringify(modelType)} is not a supported model type (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`,
    );
  }
  const architectures = f.raw.architectures;
  const architecture = String(
    Array.isArray(architectures) ? architectures[0] : Object.keys(spec.architectures)[0],
  );
  const head = Object.hasOwn(spec.architectures, architecture) ? spec.architectures[architecture] : undefined;
  if (!head) {
    f.fail(
      'architectures',
      `${JSON.stringify(architecture)} is not supported for model_type "${modelType}" ` +
        `(supported: ${Object.keys(spec.architectures).join(', ')})`,
    );
  }
  // As PretrainedConfig: the label maps decide the number of labels; else num_labels, default 2.
  const id2label = f.raw.id2label;
  const numLabels =
    typeof id2label === 'object' && id2label !== null ? Object.keys(id2label).length : f.int('num_labels', 2);
  return { family: spec.family, architecture, head, numLabels, ...spec.parse(f, architecture), raw: f.raw };
}

/** Read and normalize a `config.json` file. */
export function loadModelConfig(file: string): ModelConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new UserInputError(`${file}: cannot read the model config (${code})`, [file], 'BAD_MODEL_CONFIG');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserInputError(
      `${file}: not valid JSON (${(err as Error).message})`,
      [file],
      'BAD_MODEL_CONFIG',
    );
  }
  return parseModelConfig(raw, file);
}

/** A training or generation length must fit the model's position range. */
export function checkSequenceLength(config: ModelConfig, length: number, field = 'maxSequenceLength'): void {
  if (length > config.maxPositionEmbeddings) {
    throw new UserInputError(
      `${field} ${length} exceeds the model's limit of ${config.maxPositionEmbeddings} positions ` +
        `(max_position_embeddings in its config.json)`,
      [field],
      'SEQUENCE_TOO_LONG',
    );
  }
}
