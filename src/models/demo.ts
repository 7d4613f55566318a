/**
 * A tiny random LLaMA-style Hugging Face folder: tests train it, setup pre-trains it into the built-in demo model
 * (src/training/demo-model.ts), and the bench model is the same thing at a larger size.
 *
 * Its tokenizer.json is a byte-level BPE built in code built in code: `<pad>`, `<s>`, `</s>`, then the 256 byte symbols of GPT-2's
 * byte-to-unicode table, no merges. Every text encodes (one token per UTF-8 byte), so a demo model trains on
 * any data set; a single text is encoded as `<s>` + text, like the fixtures' LLaMA tokenizer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WritableTensor, floatTensor, writeModelSafetensors } from './safetensors';

export const DEMO_SPECIAL_TOKENS = ['<pad>', '<s>', '</s>'] as const;

/** GPT-2's reversible byte -> printable character table (bytes_to_unicode). */
export function byteToUnicode(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable(b) ? b : 256 + shifted++);
  return table;
}

export function demoTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  DEMO_SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  byteToUnicode().forEach((ch, b) => (vocab[ch] = DEMO_SPECIAL_TOKENS.length + b));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: DEMO_SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { ...byteLevel, add_prefix_space: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

export const DEMO_TOKENIZER_CONFIG = {
  bos_token: '<s>',
  eos_token: '</s>',
  pad_token: '<pad>',
  model_max_length: 2048,
  tokenizer_class: 'PreTrainedTokenizerFast',
  chat_template:
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '</s>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}",
};

export interface DemoModelOptions {
  hiddenSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKeyValueHeads?: number;
  intermediateSize?: number;
  /** At least the tokenizer's 259 tokens. */
  vocabSize?: number;
  maxPositionEmbeddings?: number;
  seed?: number;
  /** How the weights are stored (default F32); BF16 as most released checkpoints are. */
  dtype?: 'F32' | 'BF16';
  /** 'baichuan': Baichuan2's layout (one W_pack for q/k/v, BaichuanForCausalLM); default LLaMA's. */
  family?: 'llama' | 'baichuan';
}

/** Seeded normal samples (mulberry32 + Box-Muller): the same folder for the same seed. */
function normals(n: number, std: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297; // (0, 1)
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(a) * std;
    if (i + 1 < n) out[i + 1] = r * Math.sin(a) * std;
  }
  return out;
}

/** A demo model's config.json and its tensors in file order, each drawn only when its `data` is called. */
export interface DemoModel {
  config: Record<string, unknown>;
  tensors: Record<string, WritableTensor>;
}

/**
 * A random LLaMA-style model as `writeDemoModel` writes it, initialised as transformers does (normal(0, 0.02)
 * weights, unit norms); nothing is drawn until a tensor's `data` is called, so shapes of any size cost nothing.
 */
export function demoModel(opts: DemoModelOptions = {}): DemoModel {
  const hidden = opts.hiddenSize ?? 64;
  const layers = opts.numLayers ?? 2;
  const heads = opts.numHeads ?? 4;
  const kvHeads = opts.numKeyValueHeads ?? 2;
  const inter = opts.intermediateSize ?? 128;
  const vocab = opts.vocabSize ?? DEMO_SPECIAL_TOKENS.length + 256;
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim) || heads % kvHeads !== 0) {
    throw new Error(`demo model: hidden ${hidden}, heads ${heads}, kv heads ${kvHeads} do not divide`);
  }
  if (vocab < DEMO_SPECIAL_TOKENS.length + 256) throw new Error(`demo model: vocab ${vocab} < 259 tokens`);
  let seed = opts.seed ?? 0;
  const dtype = opts.dtype ?? 'F32';
  const baichuan = opts.family === 'baichuan';
  if (baichuan && kvHeads !== heads) throw new Error('demo model: Baichuan has no grouped key/value heads');
  const tensors: Record<string, WritableTensor> = {};
  const lazy = (name: string, shape: number[], values: () => Float32Array) =>
    (tensors[name] = { dtype, shape, data: () => floatTensor(values(), shape, dtype).data });
  const matrix = (name: string, rows: number, cols: number) => {
    const s = seed++;
    lazy(name, [rows, cols], () => normals(rows * cols, 0.02, s));
  };
  const ones = (name: string) => lazy(name, [hidden], () => new Float32Array(hidden).fill(1));
  matrix('model.embed_tokens.weight', vocab, hidden);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    if (baichuan) {
      matrix(`${p}.self_attn.W_pack.weight`, 3 * hidden, hidden);
    } else {
      matrix(`${p}.self_attn.q_proj.weight`, hidden, hidden);
      matrix(`${p}.self_attn.k_proj.weight`, kvHeads * headDim, hidden);
      matrix(`${p}.self_attn.v_proj.weight`, kvHeads * headDim, hidden);
    }
    matrix(`${p}.self_attn.o_proj.weight`, hidden, hidden);
    matrix(`${p}.mlp.gate_proj.weight`, inter, hidden);
    matrix(`${p}.mlp.up_proj.weight`, inter, hidden);
    matrix(`${p}.mlp.down_proj.weight`, hidden, inter);
    ones(`${p}.input_layernorm.weight`);
    ones(`${p}.post_attention_layernorm.weight`);
  }
  ones('model.norm.weight');
  matrix('lm_head.weight', vocab, hidden);

  const config = {
    architectures: [baichuan ? 'BaichuanForCausalLM' : 'LlamaForCausalLM'],
    model_type: baichuan ? 'baichuan' : 'llama',
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: 'silu',
    max_position_embeddings: opts.maxPositionEmbeddings ?? 2048,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: false,
    vocab_size: vocab,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32',
  };
  return { config, tensors };
}

/**
 * Write a random LLaMA-style model (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
 * generation_config.json) into `dir`. Each tensor is drawn when the writer reaches it, so models larger than
 * memory can be written.
 */
export function writeDemoModel(dir: string, opts: DemoModelOptions = {}): void {
  const { config, tensors } = demoModel(opts);
  writeModelSafetensors(dir, tensors);
  writeDemoConfigFiles(dir, config);
}

/** config.json, generation_config.json and the byte-level tokenizer's files of a demo model, into `dir`. */
export function writeDemoConfigFiles(dir: string, config: Record<string, unknown>): void {
  fs.mkdirSync(dir, { recursive: true });
  const json = (name: string, value: unknown) =>
    fs.writeFileSync(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');
  json('config.json', config);
  json('generation_config.json', { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 });
  json('tokenizer.json', demoTokenizerJson());
  json('tokenizer_config.json', DEMO_TOKENIZER_CONFIG);
}
