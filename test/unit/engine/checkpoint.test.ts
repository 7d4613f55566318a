/**
 * Recomputed regions (engine/checkpoint.ts) and what is built on them: a region gives the plain values and
 * gradients, and ONNX Runtime keeps its recomputation apart from the forward pass; query-blocked attention and the
 * chunked linear cross-entropy equal the plain graphs within float32 round-off. Their finite-difference checks are
 * in gradients.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { gradients } from '../../../src/engine/autodiff';
import { checkpoint } from '../../../src/engine/checkpoint';
import { Graph, Tensor } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import * as op from '../../../src/engine/ops';
import { createSession } from '../../../src/engine/session';
import { attend, queryBlocks } from '../../../src/models/families/attention';
import { randn } from './helpers';

/** Largest |a - b| / (1 + |b|). */
function worst(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]) / (1 + Math.abs(b[i]))), 0);
}

/**
 * Run `build` twice on the same params, plain and in its memory-saving form, in one graph: [plain, saving] pairs of
 * the output and of the gradient of sum(out * R) for each param.
 */
async function bothWays(
  shapes: number[][],
  build: (g: Graph, params: Tensor[], saving: boolean) => Tensor,
): Promise<[Float32Array, Float32Array][]> {
  const g = new Graph();
  const params = shapes.map((s, i) => g.param(`p${i}`, s));
  for (const saving of [0, 1]) {
    const out = build(g, params, saving === 1);
    const r = g.constant(randn(out.shape, 7), 'float32', out.shape);
    g.output(`out_${saving}`, out);
    const grads = gradients(op.reduceSum(op.mul(out, r), op.allAxes(out)), params);
    grads.forEach((t, i) => g.output(`grad${i}_${saving}`, t));
  }
  const s = await createSession(g);
  const result = await s.run(Object.fromEntries(shapes.map((sh, i) => [`p${i}`, randn(sh, 20 + i)])));
  await s.release();
  return ['out', ...shapes.map((_, i) => `grad${i}`)].map((n) => [
    result[`${n}_0`].data as Float32Array,
    result[`${n}_1`].data as Float32Array,
  ]);
}

test('a checkpointed region gives the plain values and gradients', async () => {
  const pairs = await bothWays([[3, 4], [4]], (_, [x, w], saving) => {
    const body = ([c]: readonly Tensor[]) => [op.mul(op.exp(op.mul(c, w)), op.tanh(c))];
    return (saving ? checkpoint([x], body) : body([x]))[0];
  });
  for (const [plain, saving] of pairs) expect(worst(saving, plain)).toBeLessThan(1e-6);
});

test("ONNX Runtime's optimizers keep the recomputation apart from the forward pass", async () => {
  const g = new Graph();
  const x = g.param('x', [4, 8]);
  const [y] = checkpoint([x], ([c]) => [op.exp(op.mul(c, 3))]);
  const loss = op.reduceSum(y, [0, 1]);
  g.output('loss', loss);
  g.output('dx', gradients(loss, [x])[0]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-checkpoint-'));
  try {
    const optimized = path.join(dir, 'optimized.onnx');
    const s = await createSession(g, { ortOptions: { optimizedModelFilePath: optimized } });
    const xs = randn([4, 8], 3, 0.3);
    const dx = (await s.run({ x: xs })).dx.data as Float32Array;
    xs.forEach((v, i) => expect(dx[i]).toBeCloseTo(3 * Math.exp(3 * v), 4));
    await s.release();
    const nodes = onnx.ModelProto.decode(fs.readFileSync(optimized)).graph!.node!;
    // one Exp in the forward pass, one in the recomputation (a merged graph would have one)
    expect(nodes.filter((n) => n.opType === 'Exp')).toHaveLength(2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a tensor of a checkpointed region used outside it is an error naming it', () => {
  const g = new Graph();
  const x = g.param('x', [3]);
  let inner: Tensor | null = null;
  const [y] = checkpoint([x], ([c]) => {
    inner = op.exp(c);
    return [op.mul(inner, 2)];
  });
  const loss = op.reduceSum(op.add(y, inner!), [0]);
  expect(() => gradients(loss, [x])).toThrow(/computed in a checkpointed region and used outside it/);
});

describe.each([
  ['right padding', [1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0, 0]],
  ['left padding', [0, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]],
])('query-blocked attention, causal, %s', (_, first, second) => {
  test.each([1, 3, 7])('blocks of %i query rows equal plain attention on real tokens', async (rows) => {
    const mask = [...first, ...second];
    const [[plain, blocked], ...grads] = await bothWays(
      [
        [2, 7, 4, 3],
        [2, 7, 2, 3],
        [2, 7, 2, 3],
      ],
      (g, [q, k, v], saving) => {
        const bias = nn.attentionBias(g, g.constant(mask, 'int64', [2, 7]));
        const blocks = saving ? queryBlocks(bias, rows, true) : undefined;
        const { context } = attend(q, k, v, bias, 0.5, undefined, blocks); // (2, 7, 12)
        return op.mul(context, g.constant(mask, 'float32', [2, 7, 1])); // real query rows only
      },
    );
    expect(worst(blocked, plain)).toBeLessThan(1e-6);
    for (const [p, s] of grads) expect(worst(s, p)).toBeLessThan(1e-6);
  });
});

test.each([1, 2, 5, 9])(
  'the linear cross-entropy in chunks of %i rows equals crossEntropy(linear(x, W)), gradients included',
  async (chunk) => {
    const pairs = await bothWays(
      [
        [9, 4],
        [6, 4],
      ],
      (g, [x, w], saving) => {
        const targets = g.constant([0, 5, -100, 3, 3, 1, -100, 2, 4], 'int64', [9]);
        return saving
          ? nn.linearCrossEntropy(x, w, targets, chunk)
          : nn.crossEntropy(nn.linear(x, w), targets, { reduction: 'none' });
      },
    );
    for (const [plain, saving] of pairs) expect(worst(saving, plain)).toBeLessThan(1e-6);
  },
);

test.each([1, 2, 9])(
  'with a frozen head, the linear cross-entropy in chunks of %i rows (gradient in the forward pass) equals the plain one',
  async (chunk) => {
    const w = randn([6, 4], 3);
    const pairs = await bothWays([[9, 4]], (g, [x], saving) => {
      const head = g.constant(w, 'float32', [6, 4]);
      const targets = g.constant([0, 5, -100, 3, 3, 1, -100, 2, 4], 'int64', [9]);
      return saving
        ? nn.linearCrossEntropy(x, head, targets, chunk, { rowGradientInForward: true })
        : nn.crossEntropy(nn.linear(x, head), targets, { reduction: 'none' });
    });
    for (const [plain, saving] of pairs) expect(worst(saving, plain)).toBeLessThan(1e-6);
  },
);

test('a frozen-head linear cross-entropy refuses a head that needs a gradient', () => {
  const g = new Graph();
  const [x, w] = [g.param('x', [4, 3]), g.param('w', [5, 3])];
  const losses = nn.linearCrossEntropy(x, w, g.constant([0, 1, 2, 3], 'int64', [4]), 2, {
    rowGradientInForward: true,
  });
  expect(() => gradients(op.reduceSum(losses, [0]), [x, w])).toThrow(/fused form reads .*needs a gradient/);
});

test("with a frozen head, each chunk's loss and gradient run before the next chunk's logits are made", async () => {
  // onnxruntime runs a node where it is first needed: left to itself it made the chunks' losses at the very end of
  // the step, so every chunk's logits lived until then (a 2,048-token step in chunks of 256 peaked 1,755 MiB
  // instead of 717).
  const g = new Graph();
  const x = g.param('x', [12, 4]);
  const head = g.constant(randn([50, 4], 3), 'float32', [50, 4]);
  const targets = g.constant([0, 5, -100, 3, 3, 1, 7, 2, 4, 9, 11, 1], 'int64', [12]);
  const losses = nn.linearCrossEntropy(x, head, targets, 3, { rowGradientInForward: true });
  const loss = op.reduceSum(losses, [0]);
  g.output('loss', loss);
  g.output('dx', gradients(loss, [x])[0]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-chunk-order-'));
  try {
    const s = await createSession(g, {
      ortOptions: { enableProfiling: true, profileFilePrefix: path.join(dir, 'run') },
    });
    await s.run({ x: randn([12, 4], 5) });
    await s.release();
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'))!;
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
      cat: string;
      ts: number;
      args?: { op_name?: string; output_type_shape?: Record<string, number[]>[] };
    }[];
    // In execution order: L for a chunk's logits (a (3, 50) product), G for its loss's GatherElements.
    const order = events
      .filter((e) => e.cat === 'Node')
      .sort((a, b) => a.ts - b.ts)
      .map((e) => {
        const shape = Object.values(e.args?.output_type_shape?.[0] ?? {})[0]?.join();
        if (e.args?.op_name === 'GatherElements') return 'G';
        return e.args?.op_name === 'Gemm' && shape === '3,50' ? 'L' : '';
      })
      .join('');
    expect(order).toBe('LGLGLGLG');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
