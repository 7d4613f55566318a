/**
 * Neural-network composites built from primitive ops only (some as fused forms with their own gradient rules,
 * fused.ts), so every op can run on the GPU providers (no LogSoftmax, OneHot or SoftmaxCrossEntropyLoss, which fall back to the CPU).
 */
import { gradients } from './autodiff';
import { checkpoint, dependOn, token, withWeightToken } from './checkpoint';
import { fused, rmsNorm as fusedRmsNorm, swiglu as fusedSwiglu } from './fused';
import { DType, Graph, Tensor } from './graph';
import * as op from './ops';

/** x * sigmoid(x) */
export function silu(x: Tensor): Tensor {
  return op.mul(x, op.sigmoid(x));
}

/** silu(gate) * up, the SwiGLU MLP's product; with `Graph.fuse` with its own gradient rule (fused.ts). */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  return gate.graph.fuse ? fusedSwiglu(gate, up) : op.mul(silu(gate), up);
}

/** GELU, exact form: 0.5 x (1 + erf(x / sqrt 2)). */
export function geluErf(x: Tensor): Tensor {
  return op.mul(op.mul(x, 0.5), op.add(op.erf(op.mul(x, Math.SQRT1_2)), 1));
}

/** GELU, tanh approximation (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: Tensor): Tensor {
  const inner = op.mul(op.add(x, op.mul(op.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return op.mul(op.mul(x, 0.5), op.add(op.tanh(inner), 1));
}

/**
 * LLaMA RMSNorm over the last axis: weight * x / sqrt(mean(x^2) + eps). Shaped so onnxruntime can fuse it; with
 * `Graph.fuse` the same chain with its own gradient rule (fused.ts).
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  if (x.graph.fuse) return fusedRmsNorm(x, weight, eps);
  const variance = op.reduceMean(op.pow(x, 2), [-1], true); // (..., 1)
  return op.mul(op.div(x, op.sqrt(op.add(variance, eps))), weight);
}

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const centered = op.sub(x, op.reduceMean(x, [-1], true));
  const variance = op.reduceMean(op.pow(centered, 2), [-1], true); // (..., 1)
  return op.add(op.mul(op.div(centered, op.sqrt(op.add(variance, eps))), weight), bias);
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (torch's default -100). */
  ignoreIndex?: number;
  /** 'mean' over non-ignored targets (torch's default), 'sum', or 'none' (per target, 0 where ignored). */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * torch.nn.functional.cross_entropy for logits (..., V) and int64 or int32 targets (...).
 * Returns a scalar (mean/sum) or the per-target losses (shape of targets).
 *
 * On the WebGPU provider int32 targets keep every node on the device; int64 targets leave the label arithmetic
 * (Reshape, Equal, Where on int64) to the CPU, arranged so those nodes read only the host-fed targets and nothing
 * computed on the device comes back to the host.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, reduction = 'mean' } = opts;
  const vocab = logits.shape[logits.rank - 1];
  if (targets.dtype !== 'int64' && targets.dtype !== 'int32') {
    throw new Error(`crossEntropy: targets must be int64 or int32, got ${targets}`);
  }
  if (targets.shape.join() !== logits.shape.slice(0, -1).join()) {
    throw new Error(`crossEntropy: targets ${targets} do not match logits ${logits}`);
  }
  const flatLogits = op.reshape(logits, [-1, vocab]); // (N, V)
  const flatTargets = op.reshape(targets, [-1, 1]); // (N, 1)
  const ignored = op.equal(flatTargets, ignoreIndex); // (N, 1)
  const safeTargets = op.where(ignored, 0, flatTargets); // ignored rows read class 0, then are zeroed
  // log p[target] = shifted[target] - logsumexp(shifted): gather before subtracting so neither the forward
  // nor the backward materialises a second (N, V) log-probability tensor.
  const shifted = op.sub(flatLogits, op.detach(op.reduceMax(flatLogits, [1], true))); // (N, V)
  const lse = op.log(op.reduceSum(op.exp(shifted), [1], true)); // (N, 1)
  const picked = op.sub(op.gatherElements(shifted, safeTargets, 1), lse); // (N, 1)
  const keepF = op.cast(op.not(ignored), logits.dtype);
  const losses = op.mul(op.neg(picked), keepF); // (N, 1)
  if (reduction === 'none') return op.reshape(losses, targets.shape);
  const total = op.reduceSum(losses, [0, 1]);
  if (reduction === 'sum') return total;
  return op.div(total, op.reduceSum(keepF, [0, 1]));
}

/**
 * Per-row cross-entropy (N) of the logits x W^T against targets (N), 0 where ignored, `chunk` rows at a time, so
 * the (N, V) logits never exist (Liger-Kernel's fused linear cross-entropy, in graph ops): each chunk's logits
 * (chunk, V) are made, reduced and dropped. `head` is W, or a function from a chunk's rows to its logits, built
 * inside each chunk: a 16-bit head is then upcast there (checkpoint.ts `upcast`).
 *
 * With `rowGradientInForward` (for a head that is not trained, where the rows will be differentiated) each chunk's
 * gradient with respect to its rows is computed in the forward pass, while its logits exist, as Liger-Kernel does: a
 * row's loss depends on its row alone, so that gradient times the row's incoming gradient is the backward pass, and
 * the head is neither recomputed nor cast again there (a third fewer head products). Otherwise each chunk is a
 * checkpointed region, recomputed in the backward pass, and W's gradient is summed chunk by chunk; a graph that is
 * not differentiated runs each chunk once.
 */
export function linearCrossEntropy(
  x: Tensor,
  head: Tensor | ((rows: Tensor) => Tensor),
  targets: Tensor,
  chunk: number,
  opts: { ignoreIndex?: number; rowGradientInForward?: boolean } = {},
): Tensor {
  const n = x.shape[0];
  if (!Number.isInteger(chunk) || chunk < 1)
    throw new Error(`linearCrossEntropy: chunk ${chunk} is not positive`);
  if (x.rank !== 2 || targets.rank !== 1 || targets.shape[0] !== n) {
    throw new Error(`linearCrossEntropy: x ${x} must be (N, C) and targets ${targets} (N)`);
  }
  const sizes = Array.from({ length: Math.ceil(n / chunk) }, (_, i) => Math.min(chunk, n - i * chunk));
  const rows = sizes.length === 1 ? [x] : op.split(x, sizes, 0);
  const labels = sizes.length === 1 ? [targets] : op.split(targets, sizes, 0);
  const chunkLoss = (c: Tensor, i: number) =>
    crossEntropy(typeof head === 'function' ? head(c) : linear(c, head), labels[i], {
      ignoreIndex: opts.ignoreIndex ?? -100,
      reduction: 'none',
    });
  // With the gradient made in the forward pass, a 16-bit head's casts wait for x, not for each chunk: one float32
  // head, made when the loss starts (onnxruntime merges the identical casts), serves every chunk and dies with the
  // last. The token is detached: it carries no gradient.
  const losses = opts.rowGradientInForward
    ? withWeightToken(token([op.detach(x)]), () =>
        rows.map((r, i) => gradientInForward(r, (c) => chunkLoss(c, i))),
      )
    : rows.map((r, i) => checkpoint([r], ([c]) => [chunkLoss(c, i)])[0]);
  return losses.length === 1 ? losses[0] : op.concat(losses, 0);
}

/**
 * perRow(x) (N) where row r's value depends on x's row r alone, with d value_r / d x_r computed with the values, in
 * the forward pass (a fused form): the backward pass scales it by each row's incoming gradient.
 */
function gradientInForward(x: Tensor, perRow: (x: Tensor) => Tensor): Tensor {
  return fused([x], ([xi]) => {
    const values = perRow(xi);
    const made = gradients(op.reduceSum(values, [0]), [xi])[0]; // (N, C)
    // Each waits for the other, so that onnxruntime makes both while their intermediates (the chunk's logits)
    // exist: left to itself it runs each where it is first read, the values at the very end of the step (the loss)
    // and the gradient in the backward pass, keeping every chunk's logits until then.
    const perRowGradient = dependOn(made, token([values]));
    return {
      outputs: [dependOn(values, token([made]))],
      gradient: ([g], need) => [need(0) ? op.mul(perRowGradient, op.unsqueeze(g as Tensor, [1])) : null],
    };
  })[0];
}

/** HF Linear: x (..., in) @ W^T + b with W stored (out, in). One Gemm with transB, no Transpose of W. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const [out, inF] = weight.shape;
  if (x.shape[x.rank - 1] !== inF)
    throw new Error(`linear: input ${x} does not match weight ${weight} (out, in)`);
  if (x.graph.pretransposeWeights) {
    // MatMul broadcasts over the leading axes: no reshapes. Autodiff multiplies the gradient by W itself.
    const y = op.matmul(x, op.transpose(weight, [1, 0])); // (..., out)
    return bias ? op.add(y, bias) : y;
  }
  const flat = x.rank === 2 ? x : op.reshape(x, [-1, inF]); // (N, in)
  const y = op.gemm(flat, weight, bias, { transB: true }); // (N, out)
  return x.rank === 2 ? y : op.reshape(y, [...x.shape.slice(0, -1), out]);
}

/** Most negative finite value of a float dtype (torch.finfo(dtype).min), the additive "masked" score. */
export function minValue(dtype: DType): number {
  return dtype === 'float16' ? -65504 : -3.4028234663852886e38;
}

/** Boolean (1, 1, T, T) mask: query i may see key j when j <= i. */
export function causalMask(g: Graph, t: number): Tensor {
  const data = new Uint8Array(t * t);
  for (let i = 0; i < t; i++) for (let j = 0; j <= i; j++) data[i * t + j] = 1;
  return g.constant(data, 'bool', [1, 1, t, t]);
}

/**
 * Additive attention bias (B, 1, T, T): 0 where query i may attend key j (causal and key not padding),
 * the dtype's minimum elsewhere. `paddingMask` is (B, T) with 1 for real tokens (HF attention_mask).
 */
export function attentionBias(g: Graph, paddingMask: Tensor, dtype: DType = 'float32'): Tensor {
  const [b, t] = paddingMask.shape;
  const keys = op.reshape(paddingMask.dtype === 'bool' ? paddingMask : op.cast(paddingMask, 'bool'), [
    b,
    1,
    1,
    t,
  ]);
  const visible = op.and(causalMask(g, t), keys); // (B, 1, T, T)
  return op.where(visible, g.constant(0, dtype), g.constant(minValue(dtype), dtype));
}
