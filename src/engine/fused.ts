/**
 * Fused forms: a chain of nodes that autodiff differentiates with a gradient rule written for the whole chain
 * instead of op by op. The rule can reuse the chain's intermediates and skip what the op-by-op rules would build
 * (broadcast reductions of constants, scatter-adds of a permuting Gather), so the step graph has fewer nodes, and
 * on the WebGPU provider fewer dispatches. `Graph.fuse` (default on) chooses them; off gives the plain chains,
 * equal within float32 round-off.
 */
import { FusedGradient, Tensor } from './graph';
import * as op from './ops';

/**
 * outputs = build(inputs).outputs, differentiated by build's `gradient` (given the outputs' gradients, null where
 * none flows; `need(i)`: whether input i wants one). Every output must be made by `build`.
 */
export function fused(
  inputs: readonly Tensor[],
  build: (inputs: readonly Tensor[]) => { outputs: Tensor[]; gradient: FusedGradient },
): Tensor[] {
  const g = inputs[0].graph;
  const start = g.nodes.length;
  const { outputs, gradient } = build(inputs);
  for (const t of outputs) {
    if (!t.node || t.node.id < start) throw new Error(`fused: output ${t} is not computed by the form`);
  }
  const rebuild = (xs: readonly Tensor[]) => build(xs).outputs;
  g.addRegion({
    start,
    end: g.nodes.length - 1,
    inputs,
    outputs,
    build: rebuild,
    matmulDtype: g.matmulDtype,
    gradient,
  });
  return outputs;
}

/** Sum g over its leading axes down to a (C) vector (the gradient of a weight broadcast over rows). */
function sumRows(g: Tensor): Tensor {
  return g.rank === 1 ? g : op.reduceSum(g, [...Array(g.rank - 1).keys()]);
}

/**
 * RMSNorm over the last axis, weight * x / s with s = sqrt(mean(x^2) + eps), differentiated as
 * dx = (g w - x_hat mean(g w x_hat)) / s and dw = sum of g x_hat over the rows (x_hat = x / s).
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return fused([x, weight], ([xi, w]) => {
    const s = op.sqrt(op.add(op.reduceMean(op.pow(xi, 2), [-1], true), eps)); // (..., 1)
    const normed = op.div(xi, s);
    return {
      outputs: [op.mul(normed, w)],
      gradient: ([g], need) => {
        const gy = g as Tensor;
        let gx: Tensor | null = null;
        if (need(0)) {
          const gw = op.mul(gy, w);
          const along = op.reduceMean(op.mul(gw, normed), [-1], true); // (..., 1)
          gx = op.div(op.sub(gw, op.mul(normed, along)), s);
        }
        return [gx, need(1) ? sumRows(op.mul(gy, normed)) : null];
      },
    };
  })[0];
}

/**
 * silu(gate) * up (LLaMA's MLP), differentiated as d up = g silu(gate) and
 * d gate = g up (s + silu(gate) (1 - s)) with s = sigmoid(gate).
 */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  return fused([gate, up], ([a, u]) => {
    const s = op.sigmoid(a);
    const act = op.mul(a, s);
    return {
      outputs: [op.mul(act, u)],
      gradient: ([g], need) => {
        const gy = g as Tensor;
        const slope = op.sub(op.add(s, act), op.mul(act, s)); // s + act - act s
        return [need(0) ? op.mul(op.mul(gy, u), slope) : null, need(1) ? op.mul(gy, act) : null];
      },
    };
  })[0];
}
