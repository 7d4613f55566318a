import { Graph } from '../../../../src/engine/graph';
import { gradients } from '../../../../src/engine/autodiff';
import * as op from '../../../../src/engine/ops';
import { createSession } from '../../../../src/engine/session';
import { forwardLogits } from '../../../../src/models/forward';
import { buildCausalLM, LoadedModel, MemoryWeights } from '../../../../src/models/model';
import { generateWithAndWithoutCache, maxDiff, SAMPLE, tinyConfigs, tinyModel, VOCAB } from './tiny';

const C = 32;

/** The same network as a LLaMA checkpoint: W_pack's row blocks become q_proj, k_proj and v_proj. */
function asLlama(m: LoadedModel, headRows?: (w: Float32Array) => Float32Array): LoadedModel {
  const weights = new MemoryWeights();
  for (const name of m.weights.names()) {
    const t = m.weights.get(name);
    if (name.endsWith('W_pack.weight')) {
      ['q_proj', 'k_proj', 'v_proj'].forEach((p, i) =>
        weights.tensors.set(name.replace('W_pack', p), {
          data: t.data.slice(i * C * C, (i + 1) * C * C),
          shape: [C, C],
          dtype: 'float32',
        }),
      );
    } else {
      weights.tensors.set(name, name === 'lm_head.weight' && headRows ? { ...t, data: headRows(t.data) } : t);
    }
  }
  const config = tinyModel({
    ...tinyConfigs.baichuan,
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
  }).config;
  return { ...m, config: { ...config, vocabSize: m.config.vocabSize }, weights };
}

/** Rows of a (V, C) matrix divided by their L2 norms. */
function normalizeRows(w: Float32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < w.length / C; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += w[r * C + c] ** 2;
    for (let c = 0; c < C; c++) out[r * C + c] = w[r * C + c] / Math.sqrt(s);
  }
  return out;
}

describe('baichuan family', () => {
  const baichuan = tinyModel(tinyConfigs.baichuan, 2);

  it('splits the fused W_pack into q, k, v: equal to the LLaMA model with separate projections', async () => {
    expect(baichuan.weights.shape('model.layers.0.self_attn.W_pack.weight')).toEqual([3 * C, C]);
    const a = await forwardLogits(baichuan, SAMPLE);
    const b = await forwardLogits(asLlama(baichuan), SAMPLE);
    expect(maxDiff(a.data, b.data)).toBeLessThan(1e-5);
  });

  it("Baichuan2's NormHead (vocabulary 125696) normalizes the head's rows", async () => {
    const big = tinyModel({ ...tinyConfigs.baichuan, vocab_size: 125696 }, 3);
    expect(big.config.normHead).toBe(true);
    const a = await forwardLogits(big, SAMPLE);
    const b = await forwardLogits(asLlama(big, normalizeRows), SAMPLE);
    expect(maxDiff(a.data, b.data, SAMPLE.mask, 125696)).toBeLessThan(1e-5);
  });

  it('differentiates through the NormHead (gradient of the head weight matches finite differences)', async () => {
    const m = { ...baichuan, config: { ...baichuan.config, normHead: true } };
    const g = new Graph();
    const out = buildCausalLM(g, m, {
      inputIds: g.input('input_ids', [2, 8], 'int64'),
      attentionMask: g.input('attention_mask', [2, 8], 'int64'),
      policy: 'full',
    });
    const weightsIn = g.input('probe', [2, 8, VOCAB], 'float32');
    const loss = op.reduceSum(op.mul(out.logits, weightsIn), [0, 1, 2]);
    g.output('loss', loss);
    const head = out.params.get('lm_head.weight')!;
    g.output('grad', gradients(loss, [head])[0]);
    const s = await createSession(g, { threads: 1 });
    const probe = Float32Array.from({ length: 2 * 8 * VOCAB }, (_, i) => Math.sin(i));
    const feeds = (w: Float32Array) => {
      const f: Record<string, Float32Array | BigInt64Array> = {
        input_ids: BigInt64Array.from(SAMPLE.ids.flat(), BigInt),
        attention_mask: BigInt64Array.from(SAMPLE.mask.flat(), BigInt),
        probe,
      };
      for (const [n] of out.params) f[n] = m.weights.get(n).data;
      f['lm_head.weight'] = w;
      return f;
    };
    const w0 = m.weights.get('lm_head.weight').data;
    const grad = (await s.run(feeds(w0))).grad.data as Float32Array;
    for (const i of [0, 33, 5000]) {
      const h = 1e-2;
      const plus = Float32Array.from(w0);
      plus[i] += h;
      const minus = Float32Array.from(w0);
      minus[i] -= h;
      const lp = ((await s.run(feeds(plus))).loss.data as Float32Array)[0];
      const lm = ((await s.run(feeds(minus))).loss.data as Float32Array)[0];
      const fd = (lp - lm) / (2 * h);
      expect(Math.abs(fd)).toBeGreaterThan(1e-2);
      expect(Math.abs(grad[i] - fd)).toBeLessThan(2e-2 * Math.abs(fd));
    }
    await s.release();
  });

  it('generates the same with and without the cache', async () => {
    const { cached, uncached } = await generateWithAndWithoutCache(baichuan);
    expect(cached).toEqual(uncached);
  });
});
