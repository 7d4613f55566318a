/** Tiny random checkpoints in the Hugging Face layout of each family, built in memory for invariant tests. */
import { parseModelConfig } from '../../../../src/models/config';
import { Generator } from '../../../../src/models/generate';
import { linearModules } from '../../../../src/models/families/registry';
import { LoadedModel, MemoryWeights } from '../../../../src/models/model';
import { TextTokenizer } from '../../../../src/models/tokenizer';
import { Rng } from '../../../../src/util/rng';
import { hfTiny } from '../../../helpers/fixtures';

export const VOCAB = 512;

/** Uniform values in (-scale, scale) from a seeded generator. */
export function randomArray(rng: Rng, n: number, scale = 0.2): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * scale);
}

const LLAMA_BASE = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  vocab_size: VOCAB,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: 0,
};

export const tinyConfigs = {
  llama: { ...LLAMA_BASE, model_type: 'llama', architectures: ['LlamaForCausalLM'], rope_theta: 10000 },
  qwen2: {
    ...LLAMA_BASE,
    model_type: 'qwen2',
    architectures: ['Qwen2ForCausalLM'],
    rope_theta: 1000000,
    tie_word_embeddings: true,
  },
  baichuan: {
    ...LLAMA_BASE,
    num_key_value_heads: 4,
    model_type: 'baichuan',
    architectures: ['BaiChuanForCausalLM'],
  },
  gpt2: {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    n_embd: 32,
    n_layer: 2,
    n_head: 4,
    n_positions: 64,
    vocab_size: VOCAB,
    bos_token_id: 1,
    eos_token_id: 2,
  },
};

let tokenizer: TextTokenizer | null = null;

/**
 * A model with random weights for `raw` (a config.json object). GPT-2 names carry the `transformer.` prefix
 * unless `gpt2Prefix` is ''. Norm weights are near 1 so activations stay in a sensible range.
 */
export function tinyModel(raw: Record<string, unknown>, seed = 0, gpt2Prefix = 'transformer.'): LoadedModel {
  const config = parseModelConfig(raw);
  const rng = Rng.fromSeed(seed);
  const weights = new MemoryWeights();
  const add = (name: string, shape: number[], around = 0) => {
    const data = randomArray(
      rng,
      shape.reduce((a, b) => a * b, 1),
    ).map((v) => v + around);
    weights.tensors.set(name, { data, shape, dtype: 'float32' });
  };
  const c = config;
  const name = (p: string) => (c.family === 'gpt2' ? p.replace(/^transformer\./, gpt2Prefix) : p);
  for (const m of linearModules(c)) {
    add(
      `${name(m.path)}.weight`,
      m.layout === 'linear' ? [m.outFeatures, m.inFeatures] : [m.inFeatures, m.outFeatures],
    );
    if (m.bias) add(`${name(m.path)}.bias`, [m.outFeatures]);
  }
  if (c.family === 'gpt2') {
    add(name('transformer.wte.weight'), [c.vocabSize, c.hiddenSize]);
    add(name('transformer.wpe.weight'), [c.maxPositionEmbeddings, c.hiddenSize]);
    for (const ln of [
      ...Array.from({ length: c.numLayers }, (_, i) => [`h.${i}.ln_1`, `h.${i}.ln_2`]).flat(),
      'ln_f',
    ]) {
      add(name(`transformer.${ln}.weight`), [c.hiddenSize], 1);
      add(name(`transformer.${ln}.bias`), [c.hiddenSize]);
    }
  } else {
    add('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
    for (let i = 0; i < c.numLayers; i++) {
      add(`model.layers.${i}.input_layernorm.weight`, [c.hiddenSize], 1);
      add(`model.layers.${i}.post_attention_layernorm.weight`, [c.hiddenSize], 1);
    }
    add('model.norm.weight', [c.hiddenSize], 1);
    if (!c.tieWordEmbeddings) add('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  }
  tokenizer ??= TextTokenizer.load(hfTiny('llama-tiny'));
  return { dir: `tiny-${c.family}`, config, weights, tokenizer };
}

/** A copy of `m` with some weights replaced. */
export function withWeights(
  m: LoadedModel,
  changes: Record<string, { data: Float32Array; shape: readonly number[] }>,
): LoadedModel {
  const weights = new MemoryWeights(m.weights.names().map((n) => [n, changes[n] ?? m.weights.get(n)]));
  for (const [n, t] of Object.entries(changes))
    if (!weights.has(n)) weights.tensors.set(n, { ...t, dtype: 'float32' });
  return { ...m, weights };
}

export const SAMPLE = {
  ids: [
    [1, 45, 300, 12, 99, 7, 410, 3],
    [1, 200, 17, 5, 0, 0, 0, 0],
  ],
  mask: [
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 0, 0, 0, 0],
  ],
};

/** Largest |a - b| over the positions whose mask is 1 in SAMPLE-shaped logits. */
export function maxDiff(a: Float32Array, b: Float32Array, mask = SAMPLE.mask, vocab = VOCAB): number {
  let max = 0;
  mask.flat().forEach((m, pos) => {
    if (!m) return;
    for (let v = 0; v < vocab; v++) max = Math.max(max, Math.abs(a[pos * vocab + v] - b[pos * vocab + v]));
  });
  return max;
}

/** What `model` generates greedily for `prompts` with its KV cache and without (the two must agree). */
export async function generateWithAndWithoutCache(
  model: LoadedModel,
  prompts: number[][] = [
    [1, 45, 300, 9],
    [1, 7],
  ],
): Promise<{ cached: number[][]; uncached: number[][] }> {
  const gen = new Generator(model, { threads: 1 });
  try {
    const run = async (useCache: boolean) =>
      (await gen.generate({ prompts, maxNewTokens: 8, eosTokenIds: [], useCache })).generated;
    return { cached: await run(true), uncached: await run(false) };
  } finally {
    await gen.release();
  }
}
