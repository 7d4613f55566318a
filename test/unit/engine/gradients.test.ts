import { gradientRules, gradients } from '../../../src/engine/autodiff';
import { checkpoint } from '../../../src/engine/checkpoint';
import { Graph, Tensor } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import * as op from '../../../src/engine/ops';
import { createSession } from '../../../src/engine/session';
import { attend, queryBlocks } from '../../../src/models/families/attention';
import { applyRope, buildRope } from '../../../src/models/families/rope';
import { GradCase, awayFromZero, distinct, gradCheck, positive } from './gradcheck';
import { randn } from './helpers';

const i64 = (g: Graph, values: number[], shape: number[]) => g.constant(values, 'int64', shape);

const cases: GradCase[] = [
  { rule: 'Add', label: 'broadcast row', shapes: [[2, 3], [3]], build: (_, [a, b]) => op.add(a, b) },
  {
    rule: 'Add',
    label: 'outer broadcast',
    shapes: [
      [2, 1],
      [1, 3],
    ],
    build: (_, [a, b]) => op.add(a, b),
  },
  { rule: 'Sub', label: 'broadcast rank', shapes: [[3], [2, 2, 3]], build: (_, [a, b]) => op.sub(a, b) },
  {
    rule: 'Mul',
    label: 'broadcast',
    shapes: [
      [2, 3, 1],
      [3, 4],
    ],
    build: (_, [a, b]) => op.mul(a, b),
  },
  { rule: 'Mul', label: 'same tensor twice', shapes: [[2, 3]], build: (_, [a]) => op.mul(a, a) },
  {
    rule: 'Div',
    label: 'broadcast',
    shapes: [
      [2, 3],
      [1, 3],
    ],
    build: (_, [a, b]) => op.div(a, b),
    init: awayFromZero,
  },
  {
    rule: 'Pow',
    label: 'both operands',
    shapes: [[2, 3], [3]],
    build: (_, [a, b]) => op.pow(a, b),
    init: positive,
  },
  { rule: 'Pow', label: 'constant exponent', shapes: [[4]], build: (_, [a]) => op.pow(a, 3) },
  { rule: 'Neg', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.neg(a) },
  { rule: 'Exp', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.exp(a) },
  { rule: 'Log', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.log(a), init: positive },
  { rule: 'Sqrt', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.sqrt(a), init: positive },
  {
    rule: 'Reciprocal',
    label: '1-D',
    shapes: [[5]],
    build: (_, [a]) => op.reciprocal(a),
    init: awayFromZero,
  },
  { rule: 'Tanh', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.tanh(a) },
  { rule: 'Sigmoid', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.sigmoid(a) },
  { rule: 'Erf', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.erf(a) },
  { rule: 'Relu', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.relu(a), init: awayFromZero },
  { rule: 'Abs', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.abs(a), init: awayFromZero },
  {
    rule: 'Sign',
    label: 'times x',
    shapes: [[4]],
    build: (_, [a]) => op.mul(op.sign(a), a),
    init: awayFromZero,
  },
  { rule: 'Identity', label: '1-D', shapes: [[3]], build: (_, [a]) => op.mul(op.identity(a), a) },
  {
    rule: 'Cast',
    label: 'float32 to float32',
    shapes: [[3]],
    build: (_, [a]) => op.exp(op.cast(a, 'float32')),
  },
  {
    rule: 'MatMul',
    label: '2-D',
    shapes: [
      [2, 3],
      [3, 4],
    ],
    build: (_, [a, b]) => op.matmul(a, b),
  },
  {
    rule: 'MatMul',
    label: 'batched x 2-D weight',
    shapes: [
      [2, 2, 3],
      [3, 4],
    ],
    build: (_, [a, b]) => op.matmul(a, b),
  },
  {
    rule: 'MatMul',
    label: 'broadcast batch',
    shapes: [
      [2, 1, 2, 3],
      [3, 3, 2],
    ],
    build: (_, [a, b]) => op.matmul(a, b),
  },
  {
    rule: 'Gemm',
    label: 'transB + bias row',
    shapes: [[3, 4], [2, 4], [2]],
    build: (_, [a, b, c]) => op.gemm(a, b, c, { transB: true }),
  },
  {
    rule: 'Gemm',
    label: 'transA, alpha, beta, bias column',
    shapes: [
      [4, 3],
      [4, 2],
      [3, 1],
    ],
    build: (_, [a, b, c]) => op.gemm(a, b, c, { transA: true, alpha: 0.5, beta: 2 }),
  },
  {
    rule: 'Gemm',
    label: 'transA + transB',
    shapes: [
      [4, 3],
      [2, 4],
    ],
    build: (_, [a, b]) => op.gemm(a, b, undefined, { transA: true, transB: true }),
  },
  {
    rule: 'ReduceSum',
    label: 'axis 1 keepdims',
    shapes: [[2, 3, 2]],
    build: (_, [a]) => op.reduceSum(a, [1], true),
  },
  { rule: 'ReduceSum', label: 'axes 0,2', shapes: [[2, 3, 2]], build: (_, [a]) => op.reduceSum(a, [0, -1]) },
  { rule: 'ReduceMean', label: 'last axis', shapes: [[2, 3, 2]], build: (_, [a]) => op.reduceMean(a, [-1]) },
  {
    rule: 'ReduceMean',
    label: 'all, keepdims',
    shapes: [[2, 3]],
    build: (_, [a]) => op.reduceMean(a, [0, 1], true),
  },
  {
    rule: 'ReduceSumSquare',
    label: 'axis 0',
    shapes: [[3, 2]],
    build: (_, [a]) => op.reduceSumSquare(a, [0]),
  },
  {
    rule: 'ReduceMax',
    label: 'axis 1',
    shapes: [[2, 4]],
    build: (_, [a]) => op.reduceMax(a, [1]),
    init: distinct,
  },
  {
    rule: 'ReduceMax',
    label: 'axes 0,1 keepdims',
    shapes: [[2, 3, 2]],
    build: (_, [a]) => op.reduceMax(a, [0, 1], true),
    init: distinct,
  },
  { rule: 'Softmax', label: 'last axis', shapes: [[2, 5]], build: (_, [a]) => op.softmax(a, -1) },
  { rule: 'Softmax', label: 'axis 0', shapes: [[3, 2, 2]], build: (_, [a]) => op.softmax(a, 0) },
  {
    rule: 'Reshape',
    label: 'flatten',
    shapes: [[2, 3, 2]],
    build: (_, [a]) => op.mul(op.reshape(a, [3, -1]), 2),
  },
  { rule: 'Squeeze', label: 'axis 1', shapes: [[3, 1, 2]], build: (_, [a]) => op.squeeze(a, [1]) },
  { rule: 'Unsqueeze', label: 'axes 0,-1', shapes: [[3, 2]], build: (_, [a]) => op.unsqueeze(a, [0, -1]) },
  { rule: 'Transpose', label: '3-D', shapes: [[2, 3, 4]], build: (_, [a]) => op.transpose(a, [2, 0, 1]) },
  {
    rule: 'Transpose',
    label: 'of a transpose (one node of the composed perm), the inner one read again',
    shapes: [[2, 3, 4, 2]],
    build: (_, [a]) => {
      const heads = op.transpose(a, [0, 2, 1, 3]); // (2, 4, 3, 2)
      return op.add(op.transposeLast2(heads), op.transposeLast2(op.mul(heads, heads))); // (2, 4, 2, 3)
    },
  },
  { rule: 'Expand', label: 'rank and ones', shapes: [[3, 1]], build: (_, [a]) => op.expand(a, [2, 3, 4]) },
  {
    rule: 'Concat',
    label: 'axis 1',
    shapes: [
      [2, 1],
      [2, 3],
    ],
    build: (_, [a, b]) => op.concat([a, b, a], 1),
  },
  {
    rule: 'Split',
    label: 'one piece unused',
    shapes: [[5, 2]],
    build: (_, [a]) => {
      const [x, , z] = op.split(a, [2, 1, 2], 0);
      return op.mul(x, z);
    },
  },
  {
    rule: 'Slice',
    label: 'negative bounds',
    shapes: [[4, 5]],
    build: (_, [a]) => op.slice(a, [1, -4], [-1, 4]),
  },
  { rule: 'Slice', label: 'one axis', shapes: [[2, 3, 4]], build: (_, [a]) => op.slice(a, [1], [100], [2]) },
  { rule: 'Pad', label: '2-D', shapes: [[2, 3]], build: (_, [a]) => op.pad(a, [1, 0, 2, 1], 0.5) },
  {
    rule: 'Gather',
    label: 'rows with repeats',
    shapes: [[5, 3]],
    build: (g, [a]) => op.gather(a, i64(g, [4, 0, 4, 2, 4, 1], [2, 3]), 0),
  },
  {
    rule: 'Gather',
    label: 'middle axis',
    shapes: [[2, 4, 3]],
    build: (g, [a]) => op.gather(a, i64(g, [3, 3, 0], [3]), 1),
  },
  {
    rule: 'GatherElements',
    label: 'repeats',
    shapes: [[3, 4]],
    build: (g, [a]) => op.gatherElements(a, i64(g, [1, 1, 3, 0, 2, 2], [3, 2]), 1),
  },
  {
    rule: 'GatherND',
    label: 'row pairs',
    shapes: [[3, 2, 2]],
    build: (g, [a]) => op.gatherND(a, i64(g, [0, 1, 2, 0, 0, 1], [3, 2])),
  },
  {
    rule: 'ScatterElements',
    label: 'overwrite',
    shapes: [
      [3, 4],
      [3, 1],
    ],
    build: (g, [a, u]) => op.scatterElements(a, i64(g, [2, 0, 3], [3, 1]), u, 1),
  },
  {
    rule: 'ScatterElements',
    label: 'add',
    shapes: [
      [3, 4],
      [3, 2],
    ],
    build: (g, [a, u]) => op.scatterElements(a, i64(g, [2, 2, 0, 1, 3, 0], [3, 2]), u, 1, 'add'),
  },
  {
    rule: 'ScatterND',
    label: 'rows (KV cache write)',
    shapes: [
      [4, 3],
      [2, 3],
    ],
    build: (g, [a, u]) => op.scatterND(a, i64(g, [3, 1], [2, 1]), u),
  },
  {
    rule: 'Where',
    label: 'broadcast condition',
    shapes: [[2, 3], [3]],
    build: (g, [a, b]) => op.where(g.constant(new Uint8Array([1, 0, 1]), 'bool', [3]), a, b),
  },
  {
    rule: 'Max',
    label: 'broadcast',
    shapes: [[2, 3], [3]],
    build: (_, [a, b]) => op.maximum(a, b),
    init: distinct,
  },
  {
    rule: 'Min',
    label: 'broadcast',
    shapes: [[2, 1], [4]],
    build: (_, [a, b]) => op.minimum(a, b),
    init: distinct,
  },
  {
    rule: 'Clip',
    label: 'both bounds',
    shapes: [[10]],
    build: (_, [a]) => op.clip(a, -0.45, 0.25),
    init: distinct,
  },
  {
    rule: 'Clip',
    label: 'upper only',
    shapes: [[10]],
    build: (_, [a]) => op.clip(a, undefined, 0.05),
    init: distinct,
  },
  { rule: 'Trilu', label: 'lower, k=1', shapes: [[2, 3, 3]], build: (_, [a]) => op.trilu(a, false, 1) },
  // Composites: checked end to end, exercising rule combinations and detach.
  {
    rule: 'composite',
    label: 'cross-entropy with ignore index',
    shapes: [[4, 5]],
    build: (g, [logits]) => nn.crossEntropy(logits, i64(g, [3, -100, 0, 4], [4])),
  },
  {
    rule: 'composite',
    label: 'linear (3-D input) + silu',
    shapes: [[2, 2, 3], [4, 3], [4]],
    build: (_, [x, w, b]) => nn.silu(nn.linear(x, w, b)),
  },
  {
    rule: 'composite',
    label: 'rmsNorm, plain chain',
    shapes: [[2, 4], [4]],
    build: (g, [x, w]) => {
      g.fuse = false;
      return nn.rmsNorm(x, w, 1e-6);
    },
  },
  ...[false, true].map((pretransposeWeights) => ({
    rule: 'composite',
    label: `gate and up as one product of joined weights, split${pretransposeWeights ? ', pre-transposed' : ''}`,
    shapes: [
      [2, 2, 3],
      [4, 3],
      [4, 3],
    ],
    build: (g: Graph, [x, gate, up]: Tensor[]) => {
      g.pretransposeWeights = pretransposeWeights;
      const [a, u] = op.split(nn.linear(x, op.concat([gate, up], 0)), [4, 4], -1);
      return nn.swiglu(a, u);
    },
  })),
  // Fused forms (engine/fused.ts): their own gradient rules.
  {
    rule: 'fused',
    label: 'rmsNorm (3-D input)',
    shapes: [[2, 3, 4], [4]],
    build: (_, [x, w]) => nn.rmsNorm(x, w, 1e-6),
  },
  {
    rule: 'fused',
    label: 'rmsNorm, input used again after it',
    shapes: [[3, 4], [4]],
    build: (_, [x, w]) => op.mul(nn.rmsNorm(x, w, 1e-5), x),
  },
  {
    rule: 'fused',
    label: 'swiglu, gate and up of one tensor',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    build: (_, [a, u]) => op.add(nn.swiglu(a, u), nn.swiglu(u, a)),
  },
  {
    rule: 'fused',
    label: 'rmsNorm and swiglu inside a checkpointed region (built again in the backward pass)',
    shapes: [[3, 4], [4]],
    build: (_, [x, w]) => checkpoint([x], ([c]) => [nn.swiglu(nn.rmsNorm(c, w, 1e-6), c)])[0],
  },
  ...(
    [
      ['constant tables', () => ({ offset: 2 })],
      ['gathered tables', (g) => ({ positionIds: i64(g, [0, 4, 1, 2, 2, 3], [2, 3]), tableSize: 5 })],
    ] as const satisfies readonly [string, (g: Graph) => Parameters<typeof buildRope>[4]][]
  ).map(([label, positions]) => ({
    rule: 'fused',
    label: `RoPE (swapped halves), ${label}`,
    shapes: [[2, 3, 2, 4]],
    build: (g: Graph, [x]: Tensor[]) =>
      applyRope(x, buildRope(g, { theta: 10000, scaling: { type: 'default' } }, 4, 3, positions(g))),
  })),
  {
    rule: 'composite',
    label: 'layerNorm',
    shapes: [[2, 4], [4], [4]],
    build: (_, [x, w, b]) => nn.layerNorm(x, w, b, 1e-5),
  },
  {
    rule: 'composite',
    label: 'tied embedding: gather and matmul of one table',
    shapes: [[5, 3]],
    build: (g, [table]) => {
      const rows = op.gather(table, i64(g, [4, 1, 4], [3]), 0); // (3, 3)
      return nn.linear(rows, table); // (3, 5): scatter-add folds into the Gemm gradient
    },
  },
  {
    rule: 'composite',
    label: 'linear through pre-transposed weights (MatMul, Transpose folds), twice on one weight',
    shapes: [[2, 2, 3], [4, 3], [4]],
    build: (g, [x, w, b]) => {
      g.pretransposeWeights = true;
      return nn.linear(nn.silu(nn.linear(x, w, b)), op.transpose(w, [1, 0])); // (2, 2, 3)
    },
  },
  {
    rule: 'composite',
    label: 'tied embedding through a pre-transposed weight',
    shapes: [[5, 3]],
    build: (g, [table]) => {
      g.pretransposeWeights = true;
      return nn.linear(op.gather(table, i64(g, [4, 1, 4], [3]), 0), table); // (3, 5)
    },
  },
  { rule: 'composite', label: 'gelu tanh', shapes: [[6]], build: (_, [x]) => nn.geluTanh(x) },
  { rule: 'composite', label: 'gelu erf', shapes: [[6]], build: (_, [x]) => nn.geluErf(x) },
  {
    rule: 'composite',
    label: 'masked attention',
    shapes: [
      [1, 3, 2],
      [1, 3, 2],
    ],
    build: (g, [q, k]) => {
      const bias = nn.attentionBias(g, g.constant([1, 1, 0], 'int64', [1, 3]));
      const scores = op.add(op.unsqueeze(op.matmul(q, op.transposeLast2(k)), [1]), bias); // (1, 1, 3, 3)
      return op.softmax(scores, -1);
    },
  },
  // Recomputed regions (engine/checkpoint.ts): autodiff differentiates a second copy built in the backward pass.
  {
    rule: 'composite',
    label: 'checkpointed region: a captured weight, a nested region, its output used twice',
    shapes: [[3, 4], [4]],
    build: (_, [x, w]) => {
      const [y] = checkpoint([x], ([c]) => {
        const [inner] = checkpoint([op.mul(c, w)], ([d]) => [op.exp(d)]);
        return [op.mul(inner, op.tanh(c))];
      });
      return op.add(y, op.mul(y, y));
    },
  },
  ...[
    ['right padding', [1, 1, 1, 1, 0]],
    ['left padding (a query with every key masked)', [0, 1, 1, 1, 1]],
  ].map(([label, keyMask]) => ({
    rule: 'composite',
    label: `blocked attention (blocks of 2 of 5 query rows), 4 heads on 2 key/value heads, causal, ${label}`,
    shapes: [
      [1, 5, 4, 2],
      [1, 5, 2, 2],
      [1, 5, 2, 2],
    ],
    build: (g: Graph, [q, k, v]: Tensor[]) => {
      const mask = nn.attentionBias(g, i64(g, keyMask as number[], [1, 5]));
      const { context } = attend(q, k, v, mask, 0.7, undefined, queryBlocks(mask, 2, true)); // (1, 5, 8)
      // Padding queries are read by no loss (a row of masked keys has the float-absorbed mask's zero derivative).
      return op.mul(context, g.constant(keyMask as number[], 'float32', [1, 5, 1]));
    },
  })),
  {
    rule: 'composite',
    label: 'chunked linear cross-entropy (chunks of 2 of 5 rows, ignore index), weight tied to the input',
    shapes: [[6, 3]],
    build: (g, [table]) => {
      const rows = op.gather(table, i64(g, [4, 1, 5, 0, 4], [5]), 0); // (5, 3)
      return nn.linearCrossEntropy(rows, table, i64(g, [2, -100, 0, 5, 3], [5]), 2);
    },
  },
  {
    rule: 'composite',
    label: "chunked linear cross-entropy with a frozen head (the rows' gradient made in the forward pass)",
    shapes: [[5, 3]],
    build: (g, [rows]) => {
      const head = g.constant(randn([6, 3], 3), 'float32', [6, 3]);
      const losses = nn.linearCrossEntropy(rows, head, i64(g, [2, -100, 0, 5, 3], [5]), 2, {
        rowGradientInForward: true,
      });
      return op.mul(losses, g.constant([0.5, 1, -2, 1.5, 3], 'float32', [5])); // unequal incoming gradients
    },
  },
];

describe('gradient rules against central differences', () => {
  test('every rule in the table has a finite-difference case', () => {
    const covered = new Set(cases.map((c) => c.rule));
    expect(Object.keys(gradientRules).filter((r) => !covered.has(r))).toEqual([]);
  });

  test.each(cases.map((c) => [`${c.rule}: ${c.label}`, c] as const))('%s', async (_, c) => {
    const { checked } = await gradCheck(c);
    expect(checked).toBeGreaterThan(0);
  });
});

describe('autodiff structure', () => {
  test('a tensor used on two paths accumulates both contributions', async () => {
    // loss = sum(x * w) + sum(exp(x)): d/dx = w + exp(x)
    const g = new Graph();
    const x = g.param('x', [3]);
    const w = g.constant([1, -2, 0.5], 'float32');
    const loss = op.add(op.reduceSum(op.mul(x, w), [0]), op.reduceSum(op.exp(x), [0]));
    g.output('dx', gradients(loss, [x])[0]);
    const s = await createSession(g);
    const xs = new Float32Array([0.1, -0.3, 0.7]);
    const dx = (await s.run({ x: xs })).dx.data as Float32Array;
    [1, -2, 0.5].forEach((wi, i) => expect(dx[i]).toBeCloseTo(wi + Math.exp(xs[i]), 5));
    await s.release();
  });

  test('an op without a rule on the path is an error naming it', () => {
    const g = new Graph();
    const x = g.param('x', [3]);
    const y = g.addNode('Softplus', [x], [{ shape: [3], dtype: 'float32' }])[0];
    expect(() => gradients(op.reduceSum(y, [0]), [x])).toThrow(/no gradient rule for op 'Softplus'/);
  });

  test('integer inputs and detached branches get no gradient; unused params get zeros', async () => {
    const g = new Graph();
    const table = g.param('table', [4, 2]);
    const unused = g.param('unused', [2]);
    const ids = g.input('ids', [3], 'int64');
    const rows = op.gather(table, ids, 0); // (3, 2)
    const loss = op.reduceSum(op.mul(rows, op.detach(rows)), [0, 1]); // d/drows = rows (detached side is constant)
    const [dTable, dUnused] = gradients(loss, [table, unused]);
    expect(g.nodes.some((n) => n.opType === 'ScatterND')).toBe(true);
    g.output('dTable', dTable);
    g.output('dUnused', dUnused);
    const s = await createSession(g);
    const t = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const out = await s.run({ table: t, ids: new BigInt64Array([1n, 3n, 1n]) });
    expect(Array.from(out.dTable.data as Float32Array)).toEqual([0, 0, 6, 8, 0, 0, 7, 8]);
    expect(Array.from(out.dUnused.data as Float32Array)).toEqual([0, 0]);
    await s.release();
  });
});
