/**
 * MemoryLayout.headSlice (the LM head in vocabulary slices, models/webgpu-fit.ts): the same logits and head gradient
 * as the whole head, for float32 copies (a Split of the weight), a NormHead, and a bfloat16 checkpoint's mapped
 * weight (one mapped initializer per slice over the file's rows).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gradients } from '../../../src/engine/autodiff';
import { Graph } from '../../../src/engine/graph';
import * as op from '../../../src/engine/ops';
import { createSession } from '../../../src/engine/session';
import { writeDemoModel } from '../../../src/models/demo';
import { buildCausalLM, LoadedModel, loadModel } from '../../../src/models/model';
import { SAMPLE, maxDiff, tinyConfigs, tinyModel } from './families/tiny';

const ints = (rows: number[][]) => BigInt64Array.from(rows.flat(), BigInt);

/** Logits of SAMPLE, and under 'full' the head weight's gradient of sum(logits * probe). */
async function run(m: LoadedModel, policy: 'full' | 'frozen', headSlice?: number) {
  const g = new Graph();
  const vocab = m.config.vocabSize;
  const out = buildCausalLM(g, m, {
    inputIds: g.input('input_ids', [2, 8], 'int64'),
    attentionMask: g.input('attention_mask', [2, 8], 'int64'),
    policy,
    memoryLayout: headSlice ? { headSlice } : undefined,
  });
  g.output('logits', out.logits);
  const probe = Float32Array.from({ length: 2 * 8 * vocab }, (_, i) => Math.sin(i));
  if (policy === 'full') {
    const loss = op.reduceSum(op.mul(out.logits, g.input('probe', [2, 8, vocab], 'float32')), [0, 1, 2]);
    g.output('grad', gradients(loss, [out.params.get('lm_head.weight')!])[0]);
  }
  const session = await createSession(g, { threads: 1 });
  try {
    const feeds: Record<string, Float32Array | BigInt64Array> = {
      input_ids: ints(SAMPLE.ids),
      attention_mask: ints(SAMPLE.mask),
    };
    if (policy === 'full') {
      feeds.probe = probe;
      for (const n of out.params.keys()) feeds[n] = m.weights.get(n).data;
    }
    const res = await session.run(feeds);
    return {
      logits: res.logits.data as Float32Array,
      grad: policy === 'full' ? (res.grad.data as Float32Array) : null,
      slices: g.tensors.filter((t) => t.name.startsWith('lm_head.weight[')).length,
    };
  } finally {
    await session.release();
  }
}

const normHead = (m: LoadedModel): LoadedModel => ({ ...m, config: { ...m.config, normHead: true } });

test.each([
  ['llama', tinyModel(tinyConfigs.llama, 3)],
  ['baichuan (NormHead)', normHead(tinyModel(tinyConfigs.baichuan, 3))],
])('%s: the head in slices gives the whole head logits and gradient', async (_, m) => {
  const vocab = m.config.vocabSize;
  const whole = await run(m, 'full');
  const sliced = await run(m, 'full', Math.ceil(vocab / 3) + 1); // 3 slices, the last one shorter
  expect(maxDiff(sliced.logits, whole.logits, SAMPLE.mask, vocab)).toBeLessThan(1e-6);
  expect(sliced.slices).toBe(0); // a param is split in the graph, not declared per slice
  let [diff, largest] = [0, 0];
  whole.grad!.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - sliced.grad![i]));
    largest = Math.max(largest, Math.abs(v));
  });
  expect(largest).toBeGreaterThan(1e-2);
  expect(diff).toBeLessThan(1e-6 * largest);
});

test("a bfloat16 checkpoint's head in slices: one mapped initializer per slice, the same logits", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-head-slices-'));
  try {
    writeDemoModel(dir, { vocabSize: 500, dtype: 'BF16', seed: 1 });
    const m = await loadModel(dir);
    const whole = await run(m, 'frozen');
    const sliced = await run(m, 'frozen', 128);
    expect(whole.slices).toBe(0);
    expect(sliced.slices).toBe(4);
    expect(maxDiff(sliced.logits, whole.logits, SAMPLE.mask, 500)).toBeLessThan(1e-6);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
