import { forwardLogits } from '../../../../src/models/forward';
import { LoadedModel } from '../../../../src/models/model';
import { generateWithAndWithoutCache, maxDiff, SAMPLE, tinyConfigs, tinyModel, VOCAB } from './tiny';

/**
 * GPT-2 written out with plain loops from transformers' GPT2Model: wte + wpe, pre-LayerNorm blocks, Conv1D
 * (y = x W + b with W (in, out)), causal attention over unpadded keys, gelu_new, ln_f, head tied to wte.
 */
function referenceLogits(m: LoadedModel, ids: number[], mask: number[]): Float32Array {
  const c = m.config;
  const [C, H, D, T] = [c.hiddenSize, c.numHeads, c.headDim, ids.length];
  const w = (n: string) => m.weights.get(`transformer.${n}`).data;
  const layerNorm = (x: Float64Array[], at: string) =>
    x.map((row) => {
      const mean = row.reduce((s, v) => s + v, 0) / C;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / C;
      return row.map(
        (v, i) => ((v - mean) / Math.sqrt(variance + c.norm.eps)) * w(`${at}.weight`)[i] + w(`${at}.bias`)[i],
      );
    });
  const conv1d = (x: Float64Array[], at: string) => {
    const weight = w(`${at}.weight`);
    const bias = w(`${at}.bias`);
    const out = bias.length;
    return x.map((row) => {
      const y = Float64Array.from(bias);
      for (let i = 0; i < row.length; i++) for (let o = 0; o < out; o++) y[o] += row[i] * weight[i * out + o];
      return y;
    });
  };
  const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  let h = ids.map((id, t) =>
    Float64Array.from({ length: C }, (_, i) => w('wte.weight')[id * C + i] + w('wpe.weight')[t * C + i]),
  );
  for (let l = 0; l < c.numLayers; l++) {
    const qkv = conv1d(layerNorm(h, `h.${l}.ln_1`), `h.${l}.attn.c_attn`);
    const context = h.map(() => new Float64Array(C));
    for (let head = 0; head < H; head++) {
      const part = (t: number, which: number) =>
        qkv[t].subarray(which * C + head * D, which * C + (head + 1) * D);
      for (let t = 0; t < T; t++) {
        const keys = Array.from({ length: t + 1 }, (_, j) => j).filter((j) => mask[j]);
        const scores = keys.map(
          (j) => part(t, 0).reduce((s, q, d) => s + q * part(j, 1)[d], 0) / Math.sqrt(D),
        );
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const total = e.reduce((a, b) => a + b, 0);
        keys.forEach((j, n) =>
          part(j, 2).forEach((v, d) => (context[t][head * D + d] += (e[n] / total) * v)),
        );
      }
    }
    h = h.map((row, t) => row.map((v, i) => v + conv1d(context, `h.${l}.attn.c_proj`)[t][i]));
    const inner = conv1d(layerNorm(h, `h.${l}.ln_2`), `h.${l}.mlp.c_fc`).map((row) => row.map(gelu));
    const mlp = conv1d(inner, `h.${l}.mlp.c_proj`);
    h = h.map((row, t) => row.map((v, i) => v + mlp[t][i]));
  }
  const final = layerNorm(h, 'ln_f');
  const wte = w('wte.weight');
  const logits = new Float32Array(T * VOCAB);
  final.forEach((row, t) => {
    for (let v = 0; v < VOCAB; v++)
      logits[t * VOCAB + v] = row.reduce((s, x, i) => s + x * wte[v * C + i], 0);
  });
  return logits;
}

describe('gpt2 family', () => {
  const gpt2 = tinyModel(tinyConfigs.gpt2, 4);

  it('stores Conv1D weights (in, out) and ties the head to wte', () => {
    expect(gpt2.weights.shape('transformer.h.0.attn.c_attn.weight')).toEqual([32, 96]);
    expect(gpt2.weights.shape('transformer.h.0.mlp.c_fc.weight')).toEqual([32, 128]);
    expect(gpt2.weights.has('lm_head.weight')).toBe(false);
  });

  it('matches a loop-by-loop GPT-2 on every real position (padding included in the batch)', async () => {
    const { data } = await forwardLogits(gpt2, SAMPLE);
    const t = SAMPLE.ids[0].length;
    const expected = new Float32Array(2 * t * VOCAB);
    SAMPLE.ids.forEach((ids, b) => expected.set(referenceLogits(gpt2, ids, SAMPLE.mask[b]), b * t * VOCAB));
    expect(maxDiff(data, expected)).toBeLessThan(1e-4);
  });

  it('reads checkpoints saved without the transformer. prefix alike', async () => {
    const bare = tinyModel(tinyConfigs.gpt2, 4, '');
    expect(bare.weights.has('h.0.attn.c_attn.weight')).toBe(true);
    const a = await forwardLogits(gpt2, SAMPLE);
    expect(maxDiff((await forwardLogits(bare, SAMPLE)).data, a.data)).toBe(0);
  });

  it('generates the same with and without the cache (learned positions from position ids)', async () => {
    const { cached, uncached } = await generateWithAndWithoutCache(gpt2);
    expect(cached).toEqual(uncached);
  });
});
