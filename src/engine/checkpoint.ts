/**
 * Activation checkpointing (recomputation). `checkpoint(inputs, build)` builds `build(inputs)` as usual, and marks
 * its nodes as a region: autodiff does not differentiate those nodes (so none of their intermediates is kept for the
 * backward pass) but builds the region a second time inside the backward pass and differentiates that copy.
 *
 * The copy reads its inputs through `dependOn(x, token)`, where the token is computed from the region's incoming
 * gradients and from every gradient the previously differentiated region produced. This data dependency is what
 * keeps ONNX Runtime from merging the recomputation back into the forward pass (common-subexpression elimination
 * sees different inputs) and from running it early (its execution order is a depth-first topological one, so a node
 * runs when a consumer needs it and its inputs exist): each region is recomputed when the backward pass reaches it,
 * after the region above it has finished, and its intermediates die before the next region's are made.
 */
import { Graph, Tensor, isFloat } from './graph';
import * as op from './ops';

/** build(inputs), recomputed in the backward pass. Every output must be made by `build`; one input must be float. */
export function checkpoint(
  inputs: readonly Tensor[],
  build: (inputs: readonly Tensor[]) => Tensor[],
): Tensor[] {
  const g: Graph = inputs[0].graph;
  if (!inputs.some((t) => isFloat(t.dtype))) throw new Error('checkpoint: needs a float input');
  const start = g.nodes.length;
  const outputs = withWeightToken(token(inputs.filter((t) => isFloat(t.dtype))), () => build(inputs));
  for (const t of outputs) {
    if (!t.node || t.node.id < start)
      throw new Error(`checkpoint: output ${t} is not computed by the region`);
  }
  g.addRegion({ start, end: g.nodes.length - 1, inputs, outputs, build, matmulDtype: g.matmulDtype });
  return outputs;
}

/** build(), with the 16-bit weights it upcasts (`upcast`) read only once `t` exists. */
export function withWeightToken<T>(t: Tensor, build: () => T): T {
  return t.graph.withSettings({ weightToken: t }, build);
}

/** A float32 scalar that depends on every tensor in `ts` (their first elements summed). */
export function token(ts: readonly Tensor[]): Tensor {
  const firsts = ts.map((t) => {
    const first =
      t.rank === 0
        ? t
        : op.slice(
            t,
            t.shape.map(() => 0),
            t.shape.map(() => 1),
          );
    const scalar = t.rank === 0 ? first : op.reshape(first, []);
    return scalar.dtype === 'float32' ? scalar : op.cast(scalar, 'float32');
  });
  return firsts.reduce((a, b) => op.add(a, b));
}

/**
 * x, read only once `t` exists: Where(t == t, x, x). Both branches are x, so the value is x exactly, NaN or
 * infinite t included. Where has no bfloat16 kernel on the CPU, so other dtypes are a Reshape of x to its own
 * shape, the shape chosen by such a Where.
 */
export function dependOn(x: Tensor, t: Tensor): Tensor {
  const ready = op.equal(t, t);
  if (x.dtype === 'float32' || x.dtype === 'float16') return op.where(ready, x, x);
  const dims = x.graph.constant(x.shape, 'int64', [x.rank]);
  return x.graph.addNode(
    'Reshape',
    [x, op.where(ready, dims, dims)],
    [{ shape: x.shape, dtype: x.dtype }],
  )[0];
}

/**
 * A 16-bit frozen weight as float32, cast where it is read: call it at each use. Inside a checkpointed region the
 * cast waits for the region's token (its inputs in the forward pass, its gradients in the recomputation), so each
 * float32 copy is made when its layer runs and dies with it: onnxruntime does not run all casts up front (they
 * would depend on nothing else), nor merge the recomputation's with the forward pass's. Only the 16-bit bytes
 * stay resident, given sessions that do not fold the casts into float32 initializers (session.ts).
 */
export function upcast(w: Tensor): Tensor {
  const t = w.graph.weightToken;
  return op.cast(t ? dependOn(w, t) : w, 'float32');
}
