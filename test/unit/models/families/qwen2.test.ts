import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Graph } from '../../../../src/engine/graph';
import { createSession } from '../../../../src/engine/session';
import { copyTokenizerFiles } from '../../../../src/models/checkpoint-folder';
import { forwardLogits } from '../../../../src/models/forward';
import { buildCausalLM, loadModel, LoadedModel } from '../../../../src/models/model';
import { floatTensor, writeModelSafetensors } from '../../../../src/models/safetensors';
import { Rng } from '../../../../src/util/rng';
import { hfTiny } from '../../../helpers/fixtures';
import {
  generateWithAndWithoutCache,
  maxDiff,
  randomArray,
  SAMPLE,
  tinyConfigs,
  tinyModel,
  VOCAB,
  withWeights,
} from './tiny';

const qkvBiases = (m: LoadedModel) => m.weights.names().filter((n) => /\.(q|k|v)_proj\.bias$/.test(n));

describe('qwen2 family', () => {
  const qwen = tinyModel(tinyConfigs.qwen2, 1);

  it('has q/k/v biases and no o_proj bias or lm_head (tied)', () => {
    expect(qkvBiases(qwen)).toHaveLength(6);
    expect(qwen.weights.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    expect(qwen.weights.has('lm_head.weight')).toBe(false);
  });

  it('equals a tied LLaMA with attention biases (o_proj bias zero) and the same RoPE base', async () => {
    const llamaRaw = {
      ...tinyConfigs.qwen2,
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      attention_bias: true,
    };
    const zeroO = Object.fromEntries(
      [0, 1].map((i) => [
        `model.layers.${i}.self_attn.o_proj.bias`,
        { data: new Float32Array(32), shape: [32] },
      ]),
    );
    const llama = withWeights({ ...qwen, config: tinyModel(llamaRaw).config }, zeroO);
    const a = await forwardLogits(qwen, SAMPLE);
    const b = await forwardLogits(llama, SAMPLE);
    expect(maxDiff(a.data, b.data)).toBeLessThan(1e-5);
  });

  it('uses its biases and its RoPE base', async () => {
    const base = await forwardLogits(qwen, SAMPLE);
    const rng = Rng.fromSeed(5);
    const changed = Object.fromEntries(
      qkvBiases(qwen).map((n) => [
        n,
        { data: randomArray(rng, qwen.weights.shape(n)[0]), shape: qwen.weights.shape(n) },
      ]),
    );
    expect(
      maxDiff(base.data, (await forwardLogits(withWeights(qwen, changed), SAMPLE)).data),
    ).toBeGreaterThan(1e-3);
    const otherTheta = tinyModel({ ...tinyConfigs.qwen2, rope_theta: 10000 }, 1);
    expect(maxDiff(base.data, (await forwardLogits(otherTheta, SAMPLE)).data)).toBeGreaterThan(1e-3);
  });

  it('computes logits as the final hidden states times the token embeddings (tied head)', async () => {
    const g = new Graph();
    const out = buildCausalLM(g, qwen, {
      inputIds: g.input('input_ids', [2, 8], 'int64'),
      attentionMask: g.input('attention_mask', [2, 8], 'int64'),
      policy: 'frozen',
    });
    g.output('logits', out.logits);
    g.output('hidden', out.hidden);
    const s = await createSession(g, { threads: 1 });
    const res = await s.run({
      input_ids: BigInt64Array.from(SAMPLE.ids.flat(), BigInt),
      attention_mask: BigInt64Array.from(SAMPLE.mask.flat(), BigInt),
    });
    await s.release();
    const hidden = res.hidden.data as Float32Array;
    const logits = res.logits.data as Float32Array;
    const e = qwen.weights.get('model.embed_tokens.weight').data;
    for (const [pos, v] of [
      [0, 0],
      [3, 77],
      [15, 511],
    ]) {
      let dot = 0;
      for (let c = 0; c < 32; c++) dot += hidden[pos * 32 + c] * e[v * 32 + c];
      expect(logits[pos * VOCAB + v]).toBeCloseTo(dot, 4);
    }
  });

  it('loads from a folder without lm_head.weight and generates the same with and without the cache', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen2-tiny-'));
    try {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(tinyConfigs.qwen2));
      const tensors = Object.fromEntries(
        qwen.weights.names().map((n) => [n, floatTensor(qwen.weights.get(n).data, qwen.weights.shape(n))]),
      );
      writeModelSafetensors(dir, tensors);
      copyTokenizerFiles(hfTiny('llama-tiny'), dir);
      const loaded = await loadModel(dir);
      expect(
        maxDiff((await forwardLogits(loaded, SAMPLE)).data, (await forwardLogits(qwen, SAMPLE)).data),
      ).toBe(0);
      const { cached, uncached } = await generateWithAndWithoutCache(loaded, [
        [1, 45, 300],
        [1, 7],
      ]);
      expect(cached).toEqual(uncached);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
