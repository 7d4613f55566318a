/**
 * Reverse-mode automatic differentiation over a Graph. Backward nodes are appended to the same graph, so the
 * forward and backward run as one ONNX model. One rule per primitive op in `gradientRules`; an op without a rule
 * on the differentiated path is an error naming it.
 */
import { dependOn, token } from './checkpoint';
import { Graph, Node, Region, Tensor, isFloat } from './graph';
import * as op from './ops';

export interface GradContext {
  node: Node;
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
  /** Gradient of each output; null where none flows back (e.g. an unused Split piece). */
  grads: readonly (Tensor | null)[];
  /** Whether input i needs a gradient: rules skip the work for the others. */
  need(i: number): boolean;
}

/** Returns one gradient per input (null: none / not needed), each with that input's shape. */
export type GradientRule = (ctx: GradContext) => (Tensor | null)[];

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Sum a broadcast gradient back to `shape` (numpy broadcasting reversed). */
export function unbroadcast(grad: Tensor, shape: readonly number[]): Tensor {
  const lead = grad.rank - shape.length;
  const axes = grad.shape
    .map((_, i) => i)
    .filter((i) => i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1));
  if (axes.length === 0) return grad;
  const summed = op.reduceSum(grad, axes, true);
  return sameShape(summed.shape, shape) ? summed : op.reshape(summed, shape);
}

/** Integer values of a constant input (axes, pads, starts...). */
function ints(t: Tensor): number[] {
  if (!t.data) throw new Error(`autodiff: ${t.name} must be a constant`);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Reshape a reduced gradient back to keepdims form and broadcast it over the reduced input. */
function expandReduced(grad: Tensor, input: Tensor, axes: readonly number[]): Tensor {
  const kept = input.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const g = sameShape(grad.shape, kept) ? grad : op.reshape(grad, kept);
  return op.expand(g, input.shape);
}

/** Zero tensors made here: a scatter-add into one of them can add into another contribution instead. */
const madeZeros = new WeakSet<Tensor>();
function zeros(like: Tensor, shape: readonly number[] = like.shape): Tensor {
  const z = op.full(like.graph, shape, 0, like.dtype);
  madeZeros.add(z);
  return z;
}

/**
 * g * t. When t has g's shape and g is an Expand whose source broadcasts against t to that shape, multiply the
 * source instead: broadcasting does the expansion inside Mul, sparing a full-size copy.
 */
function mulGrad(g: Tensor, t: Tensor): Tensor {
  const n = g.node;
  if (n?.opType === 'Expand' && sameShape(g.shape, t.shape)) {
    const src = n.inputs[0];
    if (sameShape(op.broadcastShapes(src.shape, t.shape), t.shape)) return op.mul(src, t);
  }
  return op.mul(g, t);
}

/** A scatter-add of updates into autodiff-made zeros (the gradient of Gather/GatherElements/GatherND). */
function isScatterIntoZeros(t: Tensor): boolean {
  const n = t.node;
  const scatter = n?.opType === 'ScatterElements' || n?.opType === 'ScatterND';
  return !!n && scatter && n.attrs.reduction === 'add' && madeZeros.has(n.inputs[0]);
}

/** Redo the scatter-add of `sparse` into `base` instead of into zeros. */
function scatterInto(base: Tensor, sparse: Tensor): Tensor {
  const n = sparse.node as Node;
  const [, indices, updates] = n.inputs;
  return n.opType === 'ScatterElements'
    ? op.scatterElements(base, indices, updates, n.attrs.axis as number, 'add')
    : op.scatterND(base, indices, updates, 'add');
}

/** Sum gradient contributions, folding scatter-adds into a dense sum rather than adding full-size zeros. */
function sumContributions(contributions: readonly Tensor[]): Tensor {
  const dense = contributions.filter((t) => !isScatterIntoZeros(t));
  const sparse = contributions.filter(isScatterIntoZeros);
  if (dense.length === 0) return sparse.slice(1).reduce(scatterInto, sparse[0]);
  return sparse.reduce(
    scatterInto,
    dense.reduce((acc, t) => op.add(acc, t)),
  );
}

/** (Reduce axes, keepdims) of a Reduce* node. */
function reduceAxes(ctx: GradContext): number[] {
  return ints(ctx.inputs[1]);
}

function matmulRule({ inputs: [a, b], grads: [g], need }: GradContext): (Tensor | null)[] {
  const gy = g as Tensor; // (..., M, N)
  const ga = need(0) ? unbroadcast(op.matmul(gy, op.transposeLast2(b)), a.shape) : null;
  let gb: Tensor | null = null;
  if (need(1) && b.rank === 2 && a.rank > 2) {
    // x (..., M, K) @ W (K, N): fold the batch into one Gemm instead of a batched product + reduction.
    const k = a.shape[a.rank - 1];
    gb = op.gemm(op.reshape(a, [-1, k]), op.reshape(gy, [-1, b.shape[1]]), undefined, { transA: true });
  } else if (need(1)) {
    gb = unbroadcast(op.matmul(op.transposeLast2(a), gy), b.shape);
  }
  return [ga, gb];
}

function gemmRule({ node, inputs: [a, b, c], grads: [g], need }: GradContext): (Tensor | null)[] {
  const gy = g as Tensor; // (M, N)
  const transA = node.attrs.transA === 1;
  const transB = node.attrs.transB === 1;
  const alpha = (node.attrs.alpha as { float: number } | undefined)?.float ?? 1;
  const beta = (node.attrs.beta as { float: number } | undefined)?.float ?? 1;
  // y = alpha op(A) op(B) + beta C; d op(A) = g op(B)^T, d op(B) = op(A)^T g, transposed back where needed.
  const ga = !need(0)
    ? null
    : transA
      ? op.gemm(b, gy, undefined, { transA: transB, transB: true, alpha })
      : op.gemm(gy, b, undefined, { transB: !transB, alpha });
  const gb = !need(1)
    ? null
    : transB
      ? op.gemm(gy, a, undefined, { transA: true, transB: transA, alpha })
      : op.gemm(a, gy, undefined, { transA: !transA, alpha });
  const gc = c && need(2) ? unbroadcast(beta === 1 ? gy : op.mul(gy, beta), c.shape) : null;
  return [ga, gb, gc];
}

/**
 * (A B)^T as the product B^T A^T when g is a fresh 2-D Gemm without bias (the gradient of a pre-transposed
 * weight): one Gemm instead of a Gemm and a Transpose; the Gemm that made g is then dead and pruned.
 */
function transposedGemm(g: Tensor): Tensor | null {
  const n = g.node;
  if (n?.opType !== 'Gemm' || n.inputs.length !== 2) return null;
  const alpha = (n.attrs.alpha as { float: number } | undefined)?.float;
  const [a, b] = n.inputs;
  return op.gemm(b, a, undefined, { transA: n.attrs.transB !== 1, transB: n.attrs.transA !== 1, alpha });
}

/** Gradient of Max (or Min): the winner takes g, ties split it evenly (as torch.maximum). */
function extremumRule(pick: typeof op.greater) {
  return ({ inputs: [a, b], grads: [g], need }: GradContext): (Tensor | null)[] => {
    const gy = g as Tensor;
    const wins = pick(a, b);
    const tie = op.equal(a, b);
    const half = op.mul(gy, 0.5);
    return [
      need(0) ? unbroadcast(op.where(wins, gy, op.where(tie, half, 0)), a.shape) : null,
      need(1) ? unbroadcast(op.where(wins, 0, op.where(tie, half, gy)), b.shape) : null,
    ];
  };
}

/** d a^b / d a = b a^(b-1); a constant scalar exponent is folded on the host (x^2 -> 2x, no Pow). */
function powDerivative(a: Tensor, b: Tensor): Tensor {
  if (b.kind !== 'constant' || b.size !== 1 || !(b.data instanceof Float32Array)) {
    return op.mul(b, op.pow(a, op.sub(b, 1)));
  }
  const c = b.data[0];
  if (c === 1) return op.full(a.graph, a.shape, 1, a.dtype);
  return op.mul(c === 2 ? a : op.pow(a, c - 1), c);
}

/** Gradient of an index-preserving reshape (Reshape, Squeeze, Unsqueeze, Identity). */
const reshapeBack: GradientRule = ({ inputs: [x], grads: [g] }) => [op.reshape(g as Tensor, x.shape), null];

/** Normalised [start, end) of each sliced axis, matching ops.slice. */
function sliceBounds(x: Tensor, starts: number[], ends: number[], axes: number[]): [number, number][] {
  return axes.map((a, i) => {
    const dim = x.shape[a];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    return [clamp(starts[i]), clamp(ends[i])];
  });
}

export const gradientRules: Record<string, GradientRule> = {
  Add: ({ inputs: [a, b], grads: [g], need }) => [
    need(0) ? unbroadcast(g as Tensor, a.shape) : null,
    need(1) ? unbroadcast(g as Tensor, b.shape) : null,
  ],
  Sub: ({ inputs: [a, b], grads: [g], need }) => [
    need(0) ? unbroadcast(g as Tensor, a.shape) : null,
    need(1) ? unbroadcast(op.neg(g as Tensor), b.shape) : null,
  ],
  Mul: ({ inputs: [a, b], grads: [g], need }) => [
    need(0) ? unbroadcast(mulGrad(g as Tensor, b), a.shape) : null,
    need(1) ? unbroadcast(mulGrad(g as Tensor, a), b.shape) : null,
  ],
  Div: ({ inputs: [a, b], outputs: [y], grads: [g], need }) => [
    need(0) ? unbroadcast(op.div(g as Tensor, b), a.shape) : null,
    need(1) ? unbroadcast(op.neg(op.div(op.mul(g as Tensor, y), b)), b.shape) : null, // -g a / b^2
  ],
  Pow: ({ inputs: [a, b], outputs: [y], grads: [g], need }) => [
    need(0) ? unbroadcast(mulGrad(g as Tensor, powDerivative(a, b)), a.shape) : null,
    need(1) ? unbroadcast(op.mul(g as Tensor, op.mul(y, op.log(a))), b.shape) : null,
  ],
  Neg: ({ grads: [g] }) => [op.neg(g as Tensor)],
  Exp: ({ outputs: [y], grads: [g] }) => [mulGrad(g as Tensor, y)],
  Log: ({ inputs: [x], grads: [g] }) => [op.div(g as Tensor, x)],
  Sqrt: ({ outputs: [y], grads: [g] }) => [op.div(op.mul(g as Tensor, 0.5), y)],
  Reciprocal: ({ outputs: [y], grads: [g] }) => [op.neg(op.mul(g as Tensor, op.mul(y, y)))],
  Tanh: ({ outputs: [y], grads: [g] }) => [mulGrad(g as Tensor, op.sub(1, op.mul(y, y)))],
  Sigmoid: ({ outputs: [y], grads: [g] }) => [mulGrad(g as Tensor, op.mul(y, op.sub(1, y)))],
  Erf: ({ inputs: [x], grads: [g] }) => [
    op.mul(g as Tensor, op.mul(op.exp(op.neg(op.mul(x, x))), 2 / Math.sqrt(Math.PI))),
  ],
  Relu: ({ inputs: [x], grads: [g] }) => [op.where(op.greater(x, 0), g as Tensor, 0)],
  // sign(x) from comparisons: the WebGPU provider has no Sign kernel.
  Abs: ({ inputs: [x], grads: [g] }) => [
    op.mul(g as Tensor, op.sub(op.cast(op.greater(x, 0), x.dtype), op.cast(op.less(x, 0), x.dtype))),
  ],
  Sign: () => [null], // piecewise constant: zero gradient
  Identity: ({ grads: [g] }) => [g],
  Cast: ({ inputs: [x], grads: [g] }) => [isFloat(x.dtype) ? op.cast(g as Tensor, x.dtype) : null],

  MatMul: matmulRule,
  Gemm: gemmRule,

  ReduceSum: (ctx) => [expandReduced(ctx.grads[0] as Tensor, ctx.inputs[0], reduceAxes(ctx)), null],
  ReduceMean: (ctx) => {
    const [x] = ctx.inputs;
    const axes = reduceAxes(ctx);
    const count = axes.reduce((n, a) => n * x.shape[a], 1);
    return [expandReduced(op.mul(ctx.grads[0] as Tensor, 1 / count), x, axes), null];
  },
  ReduceSumSquare: (ctx) => {
    const [x] = ctx.inputs;
    return [mulGrad(expandReduced(ctx.grads[0] as Tensor, x, reduceAxes(ctx)), op.mul(x, 2)), null];
  },
  ReduceMax: (ctx) => {
    // torch.amax semantics: the gradient is shared evenly among tied maxima.
    const [x] = ctx.inputs;
    const axes = reduceAxes(ctx);
    const hits = op.cast(op.equal(x, expandReduced(ctx.outputs[0], x, axes)), x.dtype);
    const share = op.div(hits, op.reduceSum(hits, axes, true));
    return [mulGrad(expandReduced(ctx.grads[0] as Tensor, x, axes), share), null];
  },
  Softmax: ({ node, outputs: [y], grads: [g] }) => {
    // dx = y * (g - sum(g * y)) along the softmax axis.
    const axis = node.attrs.axis as number;
    return [op.mul(y, op.sub(g as Tensor, op.reduceSum(op.mul(g as Tensor, y), [axis], true)))];
  },

  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: ({ node, grads: [g] }) => {
    const perm = node.attrs.perm as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const swap = perm.length === 2 && perm[0] === 1;
    return [(swap && transposedGemm(g as Tensor)) || op.transpose(g as Tensor, inverse)];
  },
  Expand: ({ inputs: [x], grads: [g] }) => [unbroadcast(g as Tensor, x.shape), null],
  Concat: ({ node, inputs, grads: [g] }) => {
    const axis = node.attrs.axis as number;
    const pieces =
      inputs.length === 1
        ? [g as Tensor]
        : op.split(
            g as Tensor,
            inputs.map((t) => t.shape[axis]),
            axis,
          );
    return pieces;
  },
  Split: ({ node, outputs, grads }) => {
    const filled = grads.map((g, i) => g ?? zeros(outputs[i]));
    return [op.concat(filled, node.attrs.axis as number), null];
  },
  Slice: ({ inputs: [x, starts, ends, axes, steps], grads: [g] }) => {
    if (steps && ints(steps).some((s) => s !== 1))
      throw new Error('autodiff: Slice with steps other than 1 has no rule');
    const ax = ints(axes).map((a) => op.normAxis(a, x.rank, 'Slice'));
    const pads = new Array<number>(2 * x.rank).fill(0);
    sliceBounds(x, ints(starts), ints(ends), ax).forEach(([s, e], i) => {
      pads[ax[i]] = s;
      pads[ax[i] + x.rank] = x.shape[ax[i]] - Math.max(s, e);
    });
    return [op.pad(g as Tensor, pads), null, null, null, null];
  },
  Pad: ({ inputs: [x, pads], grads: [g] }) => {
    const p = ints(pads);
    if (p.some((v) => v < 0)) throw new Error('autodiff: Pad with negative pads has no rule');
    const begin = p.slice(0, x.rank);
    return [
      op.slice(
        g as Tensor,
        begin,
        begin.map((b, i) => b + x.shape[i]),
      ),
      null,
      null,
    ];
  },

  Gather: ({ node, inputs: [data, indices], grads: [g] }) => {
    // Scatter-add the rows back: move the gathered axis first, ScatterND(add) into zeros, move it back.
    const axis = node.attrs.axis as number;
    const gy = g as Tensor; // data[:axis] + indices + data[axis+1:]
    const ir = indices.rank;
    // Unsqueeze before the cast: the WebGPU provider unsqueezes int32 but not int64 (ScatterND wants int64).
    const col = op.unsqueeze(indices, [-1]); // indices + (1)
    const idx = col.dtype === 'int64' ? col : op.cast(col, 'int64');
    if (axis === 0) return [op.scatterND(zeros(data), idx, gy, 'add'), null];
    const front = [...Array(ir).keys()].map((i) => axis + i);
    const rest = gy.shape.map((_, i) => i).filter((i) => i < axis || i >= axis + ir);
    const moved = op.transpose(gy, [...front, ...rest]); // indices + data[:axis] + data[axis+1:]
    const permuted = [data.shape[axis], ...data.shape.filter((_, i) => i !== axis)];
    const summed = op.scatterND(zeros(data, permuted), idx, moved, 'add');
    const back = data.shape.map((_, i) => (i < axis ? i + 1 : i === axis ? 0 : i));
    return [op.transpose(summed, back), null];
  },
  GatherElements: ({ node, inputs: [data, indices], grads: [g] }) => [
    op.scatterElements(zeros(data), indices, g as Tensor, node.attrs.axis as number, 'add'),
    null,
  ],
  GatherND: ({ inputs: [data, indices], grads: [g] }) => [
    op.scatterND(zeros(data), indices, g as Tensor, 'add'),
    null,
  ],
  ScatterElements: ({ node, inputs: [, indices, updates], grads: [g], need }) => {
    const axis = node.attrs.axis as number;
    const reduction = node.attrs.reduction ?? 'none';
    if (reduction !== 'none' && reduction !== 'add')
      throw new Error(`autodiff: ScatterElements reduction '${reduction}' has no rule`);
    const gy = g as Tensor;
    return [
      need(0) ? (reduction === 'add' ? gy : op.scatterElements(gy, indices, zeros(updates), axis)) : null,
      null,
      need(2) ? op.gatherElements(gy, indices, axis) : null,
    ];
  },
  ScatterND: ({ node, inputs: [, indices, updates], grads: [g], need }) => {
    const reduction = node.attrs.reduction ?? 'none';
    if (reduction !== 'none' && reduction !== 'add')
      throw new Error(`autodiff: ScatterND reduction '${reduction}' has no rule`);
    const gy = g as Tensor;
    return [
      need(0) ? (reduction === 'add' ? gy : op.scatterND(gy, indices, zeros(updates))) : null,
      null,
      need(2) ? op.gatherND(gy, indices) : null,
    ];
  },
  Where: ({ inputs: [cond, a, b], grads: [g], need }) => [
    null,
    need(1) ? unbroadcast(op.where(cond, g as Tensor, 0), a.shape) : null,
    need(2) ? unbroadcast(op.where(cond, 0, g as Tensor), b.shape) : null,
  ],
  Max: extremumRule(op.greater),
  Min: extremumRule(op.less),
  Clip: ({ inputs: [x, lo, hi], grads: [g] }) => {
    // torch.clamp: the gradient passes where lo <= x <= hi (bounds inclusive).
    let inside = lo ? op.greaterOrEqual(x, lo) : null;
    if (hi) inside = inside ? op.and(inside, op.lessOrEqual(x, hi)) : op.lessOrEqual(x, hi);
    return [inside ? op.where(inside, g as Tensor, 0) : g, null, null];
  },
  Trilu: ({ node, inputs: [, k], grads: [g] }) => [
    op.trilu(g as Tensor, node.attrs.upper === 1, ints(k)[0]),
    null,
  ],
};

/** Which float tensors depend on any of `wrt` (forward sweep over nodes from..to in topological order). */
function dependents(graph: Graph, wrt: readonly Tensor[], from: number, to: number): Set<Tensor> {
  const reached = new Set<Tensor>(wrt);
  for (let id = from; id <= to; id++) {
    const node = graph.nodes[id];
    if (node.stopGradient || !node.inputs.some((t) => reached.has(t))) continue;
    node.outputs.forEach((t) => isFloat(t.dtype) && reached.add(t));
  }
  return reached;
}

/** g, after checking that the rule named `by` gave it the shape of its input t. */
function checked(g: Tensor, t: Tensor, by: string): Tensor {
  if (!sameShape(g.shape, t.shape))
    throw new Error(`autodiff: rule for ${by} gave [${g.shape}] for input ${t} (internal error)`);
  return g;
}

/** What the regions differentiated so far in one `gradients` call leave for the next one to wait on. */
interface Barrier {
  after: Tensor[];
}

/**
 * The reverse sweep over nodes last..first: the gradient of each `wrt` tensor (null where none flows) given the
 * gradients `seeds` of some tensors. Regions (checkpoint.ts) inside the range are recomputed and differentiated
 * as a unit; fused forms (fused.ts) are differentiated by their own rules.
 */
function backward(
  graph: Graph,
  seeds: ReadonlyMap<Tensor, Tensor>,
  wrt: readonly Tensor[],
  first: number,
  last: number,
  barrier: Barrier,
): (Tensor | null)[] {
  const reached = dependents(graph, wrt, first, last);
  const contributions = new Map<Tensor, Tensor[]>();
  const push = (t: Tensor, g: Tensor) => contributions.set(t, [...(contributions.get(t) ?? []), g]);
  /** The summed gradient of t (cached, so a wrt tensor inside the graph is not summed twice). */
  const total = (t: Tensor): Tensor | null => {
    const c = contributions.get(t);
    if (!c) return null;
    const g = c.length === 1 ? c[0] : sumContributions(c);
    contributions.set(t, [g]);
    return g;
  };
  for (const [t, g] of seeds) if (reached.has(t)) push(t, g);

  /**
   * Recompute `region` from copies of its inputs that wait for its gradients, and differentiate the copy; or apply
   * a fused form's rule.
   */
  const throughRegion = (region: Region) => {
    const escaped = graph.nodes
      .slice(region.start, region.end + 1)
      .flatMap((n) => n.outputs)
      .find((t) => contributions.has(t) && !region.outputs.includes(t));
    if (escaped)
      throw new Error(`autodiff: ${escaped} is computed in a checkpointed region and used outside it`);
    const grads = region.outputs.map(total);
    if (grads.every((g) => g === null)) return;
    if (region.gradient) {
      // A fused form (fused.ts): its own rule, from the forward pass's intermediates, no recomputation. Its rule
      // gives its inputs' gradients only: anything else it reads must need none.
      const read = graph.nodes.slice(region.start, region.end + 1).flatMap((n) => n.inputs);
      const missed = read.find(
        (t) => (!t.node || t.node.id < region.start) && reached.has(t) && !region.inputs.includes(t),
      );
      if (missed)
        throw new Error(`autodiff: a fused form reads ${missed}, which needs a gradient, not as an input`);
      const need = (i: number) => reached.has(region.inputs[i]);
      region
        .gradient(grads, need)
        .forEach(
          (g, i) => g && need(i) && push(region.inputs[i], checked(g, region.inputs[i], 'a fused form')),
        );
      return;
    }
    const wait = token([...grads.filter((g): g is Tensor => g !== null), ...barrier.after]);
    const copies = region.inputs.map((x) => (isFloat(x.dtype) ? dependOn(x, wait) : x));
    const start = graph.nodes.length;
    const outputs = graph.withSettings({ matmulDtype: region.matmulDtype, weightToken: wait }, () =>
      region.build(copies),
    );
    const end = graph.nodes.length - 1;
    // Tensors from before the recomputation that it reads and that need a gradient (weights, keys and values).
    const captured = new Set<Tensor>();
    for (let id = start; id <= end; id++) {
      for (const t of graph.nodes[id].inputs) {
        const outside = !t.node || t.node.id < start;
        if (outside && reached.has(t) && !copies.includes(t)) captured.add(t);
      }
    }
    const targets = [...copies.filter((c, i) => reached.has(region.inputs[i])), ...captured];
    const inner = new Map<Tensor, Tensor>();
    outputs.forEach((t, i) => grads[i] && inner.set(t, grads[i]));
    const found = backward(graph, inner, targets, start, end, barrier);
    // Summed at once, so that the next region waits for the sum and no partial gradient outlives it.
    const produced: Tensor[] = [];
    targets.forEach((t, i) => {
      const g = found[i];
      if (!g) return;
      const into = captured.has(t) ? t : region.inputs[copies.indexOf(t)];
      push(into, g);
      produced.push(total(into) as Tensor);
    });
    if (produced.length) barrier.after = produced;
  };

  for (let id = last; id >= first; id--) {
    const region = graph.regionEndingAt(id);
    if (region && region.start >= first) {
      throughRegion(region);
      id = region.start;
      continue;
    }
    const node = graph.nodes[id];
    if (node.stopGradient || !node.inputs.some((t) => reached.has(t))) continue;
    const outGrads = node.outputs.map(total);
    if (outGrads.every((g) => g === null)) continue;
    const rule = gradientRules[node.opType];
    if (!rule) {
      throw new Error(
        `autodiff: no gradient rule for op '${node.opType}' (node ${node.outputs[0]?.name}) on the path to the loss`,
      );
    }
    const need = (i: number) => i < node.inputs.length && reached.has(node.inputs[i]);
    const inGrads = rule({ node, inputs: node.inputs, outputs: node.outputs, grads: outGrads, need });
    node.inputs.forEach((t, i) => {
      const g = inGrads[i];
      if (g && need(i)) push(t, checked(g, t, node.opType));
    });
  }
  return wrt.map(total);
}

/**
 * d loss / d wrt[i], appended to loss's graph. `seed` is the gradient of the loss (default ones). A tensor used
 * several times sums its contributions; a wrt tensor the loss does not depend on gets zeros.
 */
export function gradients(loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  const graph = loss.graph;
  if (!isFloat(loss.dtype)) throw new Error(`gradients: loss must be a float tensor, got ${loss}`);
  wrt.forEach((t) => {
    if (t.graph !== graph) throw new Error(`gradients: ${t.name} belongs to another graph`);
    if (!isFloat(t.dtype)) throw new Error(`gradients: cannot differentiate with respect to ${t}`);
  });
  const seeds = new Map([[loss, seed ?? op.full(graph, loss.shape, 1, loss.dtype)]]);
  const lastNode = loss.node ? loss.node.id : -1;
  const found = backward(graph, seeds, wrt, 0, lastNode, { after: [] });
  return wrt.map((t, i) => found[i] ?? op.full(graph, t.shape, 0, t.dtype));
}
