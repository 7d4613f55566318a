/**
 * Functional op builders: each call appends exactly one ONNX node (opset 18) and infers the output shape and
 * dtype, throwing a clear error on mismatch. Numbers are accepted where a tensor operand is expected and become
 * scalar constants of the other operand's dtype.
 */
import { AttrValue, DType, Graph, isFloat, Tensor, sizeOf } from './graph';

export type Operand = Tensor | number;
type Shape = readonly number[];

const fmt = (s: Shape): string => `[${s.join(', ')}]`;

function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

function one(
  g: Graph,
  op: string,
  inputs: Tensor[],
  shape: Shape,
  dtype: DType,
  attrs: Record<string, AttrValue> = {},
) {
  return g.addNode(op, inputs, [{ shape, dtype }], attrs)[0];
}

/** numpy broadcasting of two shapes. */
export function broadcastShapes(a: Shape, b: Shape, op = 'broadcast'): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) fail(op, `shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** A negative axis counts from the end, as in ONNX. */
export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) fail(op, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

function graphOf(...xs: Operand[]): Graph {
  const t = xs.find((x): x is Tensor => x instanceof Tensor);
  if (!t) throw new Error('at least one operand must be a tensor');
  return t.graph;
}

/** Turn numbers into scalar constants matching the tensor operand's dtype. */
function lift(a: Operand, b: Operand): [Tensor, Tensor] {
  const g = graphOf(a, b);
  const dtype = (a instanceof Tensor ? a : (b as Tensor)).dtype;
  const ta = a instanceof Tensor ? a : g.constant(a, dtype);
  const tb = b instanceof Tensor ? b : g.constant(b, dtype);
  return [ta, tb];
}

function binary(op: string, a: Operand, b: Operand, outDtype?: DType): Tensor {
  const [ta, tb] = lift(a, b);
  if (ta.dtype !== tb.dtype) fail(op, `dtypes differ: ${ta} vs ${tb}`);
  return one(ta.graph, op, [ta, tb], broadcastShapes(ta.shape, tb.shape, op), outDtype ?? ta.dtype);
}

function unary(op: string, x: Tensor, floatOnly = true): Tensor {
  if (floatOnly && !isFloat(x.dtype)) fail(op, `needs a float tensor, got ${x}`);
  return one(x.graph, op, [x], x.shape, x.dtype);
}

// ---- elementwise ----
export const add = (a: Operand, b: Operand): Tensor => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Tensor => binary('Div', a, b);
export const pow = (a: Operand, b: Operand): Tensor => binary('Pow', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary('Min', a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binary('Max', a, b);
export const equal = (a: Operand, b: Operand): Tensor => binary('Equal', a, b, 'bool');
export const less = (a: Operand, b: Operand): Tensor => binary('Less', a, b, 'bool');
export const lessOrEqual = (a: Operand, b: Operand): Tensor => binary('LessOrEqual', a, b, 'bool');
export const greater = (a: Operand, b: Operand): Tensor => binary('Greater', a, b, 'bool');
export const greaterOrEqual = (a: Operand, b: Operand): Tensor => binary('GreaterOrEqual', a, b, 'bool');
export const and = (a: Tensor, b: Tensor): Tensor => binary('And', a, b, 'bool');
export const not = (x: Tensor): Tensor => unary('Not', x, false);

export const neg = (x: Tensor): Tensor => unary('Neg', x, false);
export const exp = (x: Tensor): Tensor => unary('Exp', x);
export const log = (x: Tensor): Tensor => unary('Log', x);
export const sqrt = (x: Tensor): Tensor => unary('Sqrt', x);
export const reciprocal = (x: Tensor): Tensor => unary('Reciprocal', x);
export const tanh = (x: Tensor): Tensor => unary('Tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('Sigmoid', x);
export const erf = (x: Tensor): Tensor => unary('Erf', x);
export const relu = (x: Tensor): Tensor => unary('Relu', x);
export const abs = (x: Tensor): Tensor => unary('Abs', x, false);
export const sign = (x: Tensor): Tensor => unary('Sign', x, false);
export const identity = (x: Tensor): Tensor => unary('Identity', x, false);

/** Identity that autodiff treats as a constant (torch's `.detach()`). */
export function detach(x: Tensor): Tensor {
  return x.graph.addNode('Identity', [x], [{ shape: x.shape, dtype: x.dtype }], {}, true)[0];
}

export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  if (cond.dtype !== 'bool') fail('Where', `condition must be bool, got ${cond}`);
  const [ta, tb] = lift(a, b);
  if (ta.dtype !== tb.dtype) fail('Where', `dtypes differ: ${ta} vs ${tb}`);
  const shape = broadcastShapes(cond.shape, broadcastShapes(ta.shape, tb.shape, 'Where'), 'Where');
  return one(cond.graph, 'Where', [cond, ta, tb], shape, ta.dtype);
}

/** Clamp to [min, max]; either bound may be omitted. */
export function clip(x: Tensor, min?: number, max?: number): Tensor {
  const g = x.graph;
  const inputs = [
    x,
    min === undefined ? null : g.constant(min, x.dtype),
    max === undefined ? null : g.constant(max, x.dtype),
  ];
  if (inputs[2] && !inputs[1]) inputs[1] = g.constant(-Infinity, x.dtype);
  return one(
    g,
    'Clip',
    inputs.filter((t): t is Tensor => t !== null),
    x.shape,
    x.dtype,
  );
}

export function cast(x: Tensor, dtype: DType): Tensor {
  return one(x.graph, 'Cast', [x], x.shape, dtype, { to: ONNX_DTYPE[dtype] });
}

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

// ---- linear algebra ----

/**
 * The mixed precision float32 operands are multiplied in (Graph.matmulDtype), or null: 'float16' multiplies in
 * float16 and casts the product back; 'float16-storage' rounds the operands to float16 and multiplies in float32.
 */
function lowered(operands: readonly Tensor[]): 'float16' | 'float16-storage' | null {
  const mode = operands[0].graph.matmulDtype;
  return mode !== 'float32' && operands.every((t) => t.dtype === 'float32') ? mode : null;
}

/** x rounded to float16 and back: what a float16-stored operand holds. */
const throughHalf = (x: Tensor) => cast(cast(x, 'float16'), 'float32');

/** Batched, broadcasting matrix product of rank >= 2 tensors: (..., M, K) @ (..., K, N) -> (..., M, N). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) fail('MatMul', `operands need rank >= 2, got ${a} and ${b}`);
  if (a.dtype !== b.dtype) fail('MatMul', `dtypes differ: ${a} vs ${b}`);
  const mode = lowered([a, b]);
  if (mode === 'float16') return cast(matmul(cast(a, mode), cast(b, mode)), 'float32');
  if (mode === 'float16-storage') [a, b] = [throughHalf(a), throughHalf(b)];
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) fail('MatMul', `inner dimensions differ: ${a} @ ${b}`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
  return one(a.graph, 'MatMul', [a, b], [...batch, m, n], a.dtype);
}

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

/** alpha * op(A) @ op(B) + beta * C for 2-D A, B; C broadcasts to (M, N). */
export function gemm(a: Tensor, b: Tensor, c?: Tensor, opts: GemmOptions = {}): Tensor {
  if (a.rank !== 2 || b.rank !== 2) fail('Gemm', `operands must be 2-D, got ${a} and ${b}`);
  if (a.dtype !== b.dtype || (c && c.dtype !== a.dtype)) fail('Gemm', `dtypes differ: ${a}, ${b}, ${c}`);
  const operands = c ? [a, b, c] : [a, b];
  const mode = lowered(operands);
  if (mode === 'float16') {
    const [la, lb, lc] = operands.map((t) => cast(t, mode));
    return cast(gemm(la, lb, lc, opts), 'float32');
  }
  if (mode === 'float16-storage') [a, b, c] = [throughHalf(a), throughHalf(b), c && throughHalf(c)];
  const [m, k] = opts.transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [k2, n] = opts.transB ? [b.shape[1], b.shape[0]] : b.shape;
  if (k !== k2)
    fail('Gemm', `inner dimensions differ: ${a} x ${b} (transA=${!!opts.transA}, transB=${!!opts.transB})`);
  if (c) broadcastShapes([m, n], c.shape, 'Gemm');
  const attrs: Record<string, AttrValue> = {};
  if (opts.transA) attrs.transA = 1;
  if (opts.transB) attrs.transB = 1;
  if (opts.alpha !== undefined && opts.alpha !== 1) attrs.alpha = { float: opts.alpha };
  if (opts.beta !== undefined && opts.beta !== 1) attrs.beta = { float: opts.beta };
  return one(a.graph, 'Gemm', c ? [a, b, c] : [a, b], [m, n], a.dtype, attrs);
}

// ---- reductions ----

function reduce(op: string, x: Tensor, axes: readonly number[], keepdims: boolean): Tensor {
  const norm = [...new Set(axes.map((a) => normAxis(a, x.rank, op)))].sort((a, b) => a - b);
  // ONNX reads empty axes as "all axes"; callers say so explicitly with allAxes(x).
  if (norm.length === 0) fail(op, `needs at least one axis (use allAxes(x)), got ${x}`);
  const shape = keepdims
    ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !norm.includes(i));
  const g = x.graph;
  return one(g, op, [x, g.constant(norm, 'int64')], shape, x.dtype, { keepdims: keepdims ? 1 : 0 });
}

/** [0, 1, ..., rank - 1]: reduce everything. */
export const allAxes = (x: Tensor): number[] => x.shape.map((_, i) => i);

export const reduceSum = (x: Tensor, axes: readonly number[], keepdims = false): Tensor =>
  reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Tensor, axes: readonly number[], keepdims = false): Tensor =>
  reduce('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Tensor, axes: readonly number[], keepdims = false): Tensor =>
  reduce('ReduceMax', x, axes, keepdims);

/** Softmax over one axis (ONNX Softmax-13 semantics). */
export function softmax(x: Tensor, axis = -1): Tensor {
  if (!isFloat(x.dtype)) fail('Softmax', `needs a float tensor, got ${x}`);
  return one(x.graph, 'Softmax', [x], x.shape, x.dtype, { axis: normAxis(axis, x.rank, 'Softmax') });
}

// ---- shape ----

/** Static reshape; one dimension may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  if (shape.length - known.length > 1) fail('Reshape', `at most one -1 allowed in ${fmt(shape)}`);
  const resolved = shape.map((d) => (d === -1 ? x.size / sizeOf(known) : d));
  if (sizeOf(resolved) !== x.size || !resolved.every(Number.isInteger)) {
    fail('Reshape', `cannot reshape ${x} to ${fmt(shape)}`);
  }
  if (resolved.includes(0)) fail('Reshape', `zero-sized dimensions are not supported: ${fmt(shape)}`);
  return one(x.graph, 'Reshape', [x, x.graph.constant(resolved, 'int64')], resolved, x.dtype);
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  const p = perm.map((a) => normAxis(a, x.rank, 'Transpose'));
  if (p.length !== x.rank || new Set(p).size !== p.length)
    fail('Transpose', `bad perm ${fmt(perm)} for ${x}`);
  // A transpose of a transpose is one transpose of its source (attention's keys: heads first, then last two axes;
  // and their gradients back), or the source itself when it undoes it (W in the gradient of x @ W^T).
  const inner = x.node?.opType === 'Transpose' ? (x.node.attrs.perm as number[]) : null;
  if (inner) {
    const composed = p.map((a) => inner[a]);
    const source = x.node!.inputs[0];
    return composed.every((a, i) => a === i) ? source : transpose(source, composed);
  }
  return one(
    x.graph,
    'Transpose',
    [x],
    p.map((a) => x.shape[a]),
    x.dtype,
    { perm: p },
  );
}

/** Swap the last two axes. */
export function transposeLast2(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normAxis(a, rank, 'Unsqueeze'));
  const shape: number[] = [];
  let src = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[src++]);
  return one(x.graph, 'Unsqueeze', [x, x.graph.constant(norm, 'int64')], shape, x.dtype);
}

export function squeeze(x: Tensor, axes: readonly number[]): Tensor {
  const norm = axes.map((a) => normAxis(a, x.rank, 'Squeeze'));
  norm.forEach((a) => x.shape[a] !== 1 && fail('Squeeze', `axis ${a} of ${x} is not 1`));
  const shape = x.shape.filter((_, i) => !norm.includes(i));
  return one(x.graph, 'Squeeze', [x, x.graph.constant(norm, 'int64')], shape, x.dtype);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes(x.shape, shape, 'Expand');
  return one(x.graph, 'Expand', [x, x.graph.constant(shape, 'int64')], out, x.dtype);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) fail('Concat', 'needs at least one tensor');
  const a = normAxis(axis, xs[0].rank, 'Concat');
  const shape = [...xs[0].shape];
  for (const t of xs.slice(1)) {
    if (
      t.dtype !== xs[0].dtype ||
      t.rank !== xs[0].rank ||
      t.shape.some((d, i) => i !== a && d !== shape[i])
    ) {
      fail('Concat', `${t} does not match ${xs[0]} outside axis ${a}`);
    }
    shape[a] += t.shape[a];
  }
  return one(xs[0].graph, 'Concat', [...xs], shape, xs[0].dtype, { axis: a });
}

/** Split along `axis` into pieces of the given sizes. */
export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const a = normAxis(axis, x.rank, 'Split');
  if (sizes.reduce((s, d) => s + d, 0) !== x.shape[a])
    fail('Split', `sizes ${fmt(sizes)} do not sum to axis ${a} of ${x}`);
  const specs = sizes.map((d) => ({ shape: x.shape.map((s, i) => (i === a ? d : s)), dtype: x.dtype }));
  return x.graph.addNode('Split', [x, x.graph.constant(sizes, 'int64')], specs, { axis: a });
}

/** Static slice with numpy clamping; `steps` default to 1. */
export function slice(
  x: Tensor,
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
): Tensor {
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(a, x.rank, 'Slice'));
  const st = steps ?? ax.map(() => 1);
  const shape = [...x.shape];
  ax.forEach((a, i) => {
    const dim = x.shape[a];
    if (st[i] === 0) fail('Slice', 'step 0');
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const s = st[i] > 0 ? clamp(starts[i], 0, dim) : clamp(starts[i], -1, dim - 1);
    const e = st[i] > 0 ? clamp(ends[i], 0, dim) : clamp(ends[i], -1, dim - 1);
    shape[a] = Math.max(0, Math.ceil((e - s) / st[i]));
  });
  const g = x.graph;
  const big = (v: number) => Math.max(Math.min(v, 2 ** 53), -(2 ** 53));
  const inputs = [
    x,
    g.constant(starts.map(big), 'int64'),
    g.constant(ends.map(big), 'int64'),
    g.constant(ax, 'int64'),
  ];
  if (steps) inputs.push(g.constant(st, 'int64'));
  return one(g, 'Slice', inputs, shape, x.dtype);
}

/** Constant padding; `pads` = [begin_0, ..., begin_n, end_0, ..., end_n] as in ONNX. */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length !== 2 * x.rank) fail('Pad', `needs ${2 * x.rank} pads for ${x}, got ${pads.length}`);
  const shape = x.shape.map((d, i) => d + pads[i] + pads[i + x.rank]);
  const g = x.graph;
  return one(g, 'Pad', [x, g.constant(pads, 'int64'), g.constant(value, x.dtype)], shape, x.dtype);
}

// ---- indexing ----

function checkIndices(op: string, indices: Tensor): void {
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32')
    fail(op, `indices must be int64 or int32, got ${indices}`);
}

/** data.take(indices, axis): output shape = data[:axis] + indices + data[axis+1:]. */
export function gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
  checkIndices('Gather', indices);
  const a = normAxis(axis, data.rank, 'Gather');
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return one(data.graph, 'Gather', [data, indices], shape, data.dtype, { axis: a });
}

/** torch.gather: output has the indices' shape. */
export function gatherElements(data: Tensor, indices: Tensor, axis: number): Tensor {
  checkIndices('GatherElements', indices);
  const a = normAxis(axis, data.rank, 'GatherElements');
  if (indices.rank !== data.rank) fail('GatherElements', `indices ${indices} must have the rank of ${data}`);
  return one(data.graph, 'GatherElements', [data, indices], indices.shape, data.dtype, { axis: a });
}

export type ScatterReduction = 'none' | 'add' | 'mul' | 'max' | 'min';

/** torch.scatter (reduction 'none') or scatter_add (reduction 'add') along `axis`. */
export function scatterElements(
  data: Tensor,
  indices: Tensor,
  updates: Tensor,
  axis: number,
  reduction: ScatterReduction = 'none',
): Tensor {
  checkIndices('ScatterElements', indices);
  const a = normAxis(axis, data.rank, 'ScatterElements');
  if (indices.rank !== data.rank || fmt(indices.shape) !== fmt(updates.shape)) {
    fail(
      'ScatterElements',
      `indices ${indices} and updates ${updates} must match and have the rank of ${data}`,
    );
  }
  const attrs: Record<string, AttrValue> = { axis: a };
  if (reduction !== 'none') attrs.reduction = reduction;
  return one(data.graph, 'ScatterElements', [data, indices, updates], data.shape, data.dtype, attrs);
}

/** ScatterND: indices (..., k) address data[:k]; updates have shape indices[:-1] + data[k:]. */
export function scatterND(
  data: Tensor,
  indices: Tensor,
  updates: Tensor,
  reduction: ScatterReduction = 'none',
): Tensor {
  if (indices.dtype !== 'int64') fail('ScatterND', `indices must be int64, got ${indices}`);
  const k = indices.shape[indices.rank - 1];
  const want = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
  if (fmt(want) !== fmt(updates.shape))
    fail('ScatterND', `updates ${updates} should have shape ${fmt(want)}`);
  const attrs: Record<string, AttrValue> = reduction === 'none' ? {} : { reduction };
  return one(data.graph, 'ScatterND', [data, indices, updates], data.shape, data.dtype, attrs);
}

/** GatherND (batch_dims 0): indices (..., k) pick data[:k] slices; output = indices[:-1] + data[k:]. */
export function gatherND(data: Tensor, indices: Tensor): Tensor {
  if (indices.dtype !== 'int64') fail('GatherND', `indices must be int64, got ${indices}`);
  const k = indices.shape[indices.rank - 1];
  if (k > data.rank) fail('GatherND', `index depth ${k} exceeds the rank of ${data}`);
  const shape = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
  return one(data.graph, 'GatherND', [data, indices], shape, data.dtype);
}

/** Sum of squares over `axes` (one pass, no squared temporary). */
export const reduceSumSquare = (x: Tensor, axes: readonly number[], keepdims = false): Tensor =>
  reduce('ReduceSumSquare', x, axes, keepdims);

/** Keep the upper (or lower) triangle of the last two axes, offset by k; the rest becomes 0. */
export function trilu(x: Tensor, upper: boolean, k = 0): Tensor {
  if (x.rank < 2) fail('Trilu', `needs rank >= 2, got ${x}`);
  const g = x.graph;
  return one(g, 'Trilu', [x, g.constant(k, 'int64')], x.shape, x.dtype, { upper: upper ? 1 : 0 });
}

// ---- constants ----

/** A tensor of `shape` filled with `value`: a scalar constant expanded (no large literal in the model). */
export function full(g: Graph, shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  const c = g.constant(value, dtype);
  return shape.length === 0 ? c : expand(c, shape);
}

/** [start, start + 1, ..., end - 1] as a constant. */
export function arange(g: Graph, start: number, end: number, dtype: DType = 'int64'): Tensor {
  return g.constant(
    Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i),
    dtype,
  );
}
