/**
 * The tail of a training step as graph builders, mirroring PyTorch exactly:
 * torch.nn.utils.clip_grad_norm_ (global L2 norm, coef = maxNorm / (norm + 1e-6) clamped to <= 1) and
 * torch.optim.AdamW (decoupled decay, lerp'd first moment, bias corrections, eps after sqrt(v_hat)).
 * Step-dependent numbers enter as scalar feeds so one graph serves every step; plain host functions of the
 * same math serve as references.
 */
import { WEBGPU_MAX_BINDING_BYTES, tensorBytes } from './binding-size';
import { Graph, Tensor } from './graph';
import * as op from './ops';

// ---- gradient norm and clipping ----

/** sqrt(sum of squares of every gradient), per tensor first then over tensors (as clip_grad_norm_). */
export function globalGradNorm(grads: readonly Tensor[]): Tensor {
  if (grads.length === 0) throw new Error('globalGradNorm: no gradients');
  const squares = grads.map((grad) => {
    const g32 = grad.dtype === 'float32' ? grad : op.cast(grad, 'float32');
    const flat = g32.rank === 0 ? op.reshape(g32, [1]) : g32;
    return op.reshape(op.reduceSumSquare(flat, op.allAxes(flat)), [1]); // (1)
  });
  // One Sqrt over the stacked sums (the same per-tensor norms, one node instead of P).
  const norms = op.sqrt(squares.length === 1 ? squares[0] : op.concat(squares, 0)); // (P)
  return op.sqrt(op.reduceSumSquare(norms, [0])); // ()
}

/** min(maxNorm / (norm + 1e-6), 1): the factor clip_grad_norm_ multiplies every gradient by. */
export function clipCoefficient(norm: Tensor, maxNorm: Tensor | number): Tensor {
  return op.clip(op.div(maxNorm, op.add(norm, 1e-6)), undefined, 1);
}

// ---- AdamW ----

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** Scalar feeds that change every step, computed on the host in float64 as torch does. */
export interface AdamWScalars {
  /** 1 - lr * weightDecay: the decoupled decay factor (applied to decayed parameters only). */
  decay: Tensor;
  /** lr / (1 - beta1^step). */
  stepSize: Tensor;
  /** sqrt(1 - beta2^step). */
  biasCorrection2Sqrt: Tensor;
}

export const ADAMW_FEEDS = {
  decay: 'adamw.decay',
  stepSize: 'adamw.step_size',
  biasCorrection2Sqrt: 'adamw.bias_correction2_sqrt',
} as const;

/** Declare the three scalar float32 inputs (named as in ADAMW_FEEDS). */
export function adamWScalarInputs(g: Graph): AdamWScalars {
  return {
    decay: g.input(ADAMW_FEEDS.decay, [], 'float32'),
    stepSize: g.input(ADAMW_FEEDS.stepSize, [], 'float32'),
    biasCorrection2Sqrt: g.input(ADAMW_FEEDS.biasCorrection2Sqrt, [], 'float32'),
  };
}

/** Host values of the scalar feeds for optimizer step `step` (1-based) at learning rate `lr`. */
export function adamWScalarValues(
  step: number,
  lr: number,
  cfg: AdamWConfig,
): Record<keyof AdamWScalars, number> {
  if (!Number.isInteger(step) || step < 1)
    throw new Error(`adamWScalarValues: step must be an integer >= 1, got ${step}`);
  return {
    decay: 1 - lr * cfg.weightDecay,
    stepSize: lr / (1 - cfg.beta1 ** step),
    biasCorrection2Sqrt: Math.sqrt(1 - cfg.beta2 ** step),
  };
}

/** The same values as ready-to-feed float32 scalars keyed by feed name. */
export function adamWFeeds(
  step: number,
  lr: number,
  cfg: AdamWConfig,
): Record<string, { data: Float32Array; shape: [] }> {
  const v = adamWScalarValues(step, lr, cfg);
  const scalar = (x: number) => ({ data: new Float32Array([x]), shape: [] as [] });
  return {
    [ADAMW_FEEDS.decay]: scalar(v.decay),
    [ADAMW_FEEDS.stepSize]: scalar(v.stepSize),
    [ADAMW_FEEDS.biasCorrection2Sqrt]: scalar(v.biasCorrection2Sqrt),
  };
}

export interface AdamWState {
  param: Tensor;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * One AdamW update of a parameter (float32 math, as torch's single-tensor path):
 *   p *= decay (if decayed); m = lerp(m, g, 1 - beta1); v = v * beta2 + (1 - beta2) g^2;
 *   p -= stepSize * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
 */
export function adamWUpdate(
  state: AdamWState,
  grad: Tensor,
  s: AdamWScalars,
  cfg: AdamWConfig,
  decayed: boolean,
): AdamWState {
  const { param, expAvg, expAvgSq } = state;
  const p = decayed && cfg.weightDecay !== 0 ? op.mul(param, s.decay) : param;
  const m = op.add(expAvg, op.mul(op.sub(grad, expAvg), 1 - cfg.beta1));
  const v = op.add(op.mul(expAvgSq, cfg.beta2), op.mul(op.mul(grad, 1 - cfg.beta2), grad)); // addcmul order
  const denom = op.add(op.div(op.sqrt(v), s.biasCorrection2Sqrt), cfg.eps);
  return { param: op.sub(p, op.div(op.mul(m, s.stepSize), denom)), expAvg: m, expAvgSq: v }; // addcdiv order
}

export interface TrainableParam {
  /** The param feed (g.param) holding the current weights. */
  param: Tensor;
  grad: Tensor;
  /** Apply weight decay to this parameter (transformers' default: not to biases and norm weights). */
  decayed: boolean;
}

/** Output names of a parameter's updated state. */
export const stateNames = (name: string) => ({
  param: `${name}.next`,
  expAvg: `${name}.exp_avg.next`,
  expAvgSq: `${name}.exp_avg_sq.next`,
  expAvgIn: `${name}.exp_avg`,
  expAvgSqIn: `${name}.exp_avg_sq`,
});

export interface AppendAdamWOptions {
  /**
   * Update parameters in groups (same decay setting and trailing dimensions) concatenated along axis 0: one
   * chain of element-wise ops per group instead of one per parameter, and the gradient norm summed row-wise over
   * the groups. The same arithmetic per element, except the norm's summation order (float32 rounding apart, the
   * same result). ~20 nodes per group instead of ~15 per parameter, which matters where every node is a GPU
   * dispatch (WebGPU), at the cost of the concat/split copies.
   */
  flat?: boolean;
  /**
   * With `flat`: the most bytes one group's stacked tensors may hold; a group that would pass it starts another.
   * Default WebGPU's binding limit, where a larger stacked tensor could not exist on the device (a full update of
   * Baichuan2-7B's shape would stack every weight of 4,096 columns into one group: 24 GB in float32).
   */
  maxGroupBytes?: number;
}

/**
 * Append clipping and AdamW for `params` to their graph: inputs `<name>.exp_avg`, `<name>.exp_avg_sq` and the
 * ADAMW_FEEDS scalars; outputs `grad_norm` (before clipping) and `<name>.next`, `<name>.exp_avg.next`,
 * `<name>.exp_avg_sq.next`. `maxGradNorm` null skips clipping (the norm is still reported).
 */
export function appendAdamW(
  params: readonly TrainableParam[],
  cfg: AdamWConfig,
  maxGradNorm: number | null,
  opts: AppendAdamWOptions = {},
): void {
  if (params.length === 0) throw new Error('appendAdamW: no parameters');
  const g = params[0].param.graph;
  const grads = params.map((p) => p.grad);
  const groups = opts.flat ? flatGroups(params, opts.maxGroupBytes ?? WEBGPU_MAX_BINDING_BYTES) : [];
  const groupGrads = groups.map((members) => stack(members.map((i) => grads[i])));
  const norm = opts.flat ? stackedGradNorm(groupGrads) : globalGradNorm(grads);
  const coef = maxGradNorm === null ? null : clipCoefficient(norm, maxGradNorm);
  const clip = (grad: Tensor) =>
    coef ? op.mul(grad, grad.dtype === coef.dtype ? coef : op.cast(coef, grad.dtype)) : grad;
  g.output('grad_norm', norm);
  const scalars = adamWScalarInputs(g);
  const states = params.map(({ param }) => {
    const names = stateNames(param.name);
    return {
      param,
      expAvg: g.input(names.expAvgIn, param.shape, param.dtype),
      expAvgSq: g.input(names.expAvgSqIn, param.shape, param.dtype),
    };
  });
  const emit = (name: string, next: AdamWState) => {
    const names = stateNames(name);
    g.output(names.param, next.param);
    g.output(names.expAvg, next.expAvg);
    g.output(names.expAvgSq, next.expAvgSq);
  };
  if (!opts.flat) {
    params.forEach(({ param, decayed }, i) =>
      emit(param.name, adamWUpdate(states[i], clip(grads[i]), scalars, cfg, decayed)),
    );
    return;
  }
  // One update per group; clipping scales the group's gradient once (same product per element).
  groups.forEach((members, k) => {
    const pick = (f: (i: number) => Tensor) => stack(members.map(f));
    const state = {
      param: pick((i) => states[i].param),
      expAvg: pick((i) => states[i].expAvg),
      expAvgSq: pick((i) => states[i].expAvgSq),
    };
    const decayed = params[members[0]].decayed;
    const next = adamWUpdate(state, clip(groupGrads[k]), scalars, cfg, decayed);
    const shapes = members.map((i) => params[i].param.shape);
    const [p, m, v] = [next.param, next.expAvg, next.expAvgSq].map((t) => unstack(t, shapes));
    members.forEach((i, j) => emit(params[i].param.name, { param: p[j], expAvg: m[j], expAvgSq: v[j] }));
  });
}

/**
 * The flat update's groups (indices into `params`): same decay setting, dtype and trailing dimensions, so that
 * their tensors concatenate along axis 0 without reshapes (every reshape is a node; on WebGPU ~30 us of host time),
 * each within `maxBytes` (a tensor larger on its own is a group of its own).
 */
function flatGroups(params: readonly TrainableParam[], maxBytes: number): number[][] {
  const open = new Map<string, { members: number[]; bytes: number }>();
  const groups: number[][] = [];
  params.forEach(({ param, decayed }, i) => {
    const key = `${decayed} ${param.dtype} ${param.shape.slice(1).join(',')}`;
    const bytes = tensorBytes(param);
    let group = open.get(key);
    if (!group || group.bytes + bytes > maxBytes) {
      group = { members: [], bytes: 0 };
      open.set(key, group);
      groups.push(group.members);
    }
    group.members.push(i);
    group.bytes += bytes;
  });
  return groups;
}

/** Tensors of equal trailing dimensions concatenated along axis 0 (scalars as [1]). */
function stack(ts: readonly Tensor[]): Tensor {
  const rows = ts.map((t) => (t.rank === 0 ? op.reshape(t, [1]) : t));
  return rows.length === 1 ? rows[0] : op.concat(rows, 0);
}

/** The inverse of stack: pieces of `shapes` along axis 0. */
function unstack(stacked: Tensor, shapes: ReadonlyArray<readonly number[]>): Tensor[] {
  const pieces = splitRows(
    stacked,
    shapes.map((s) => s[0] ?? 1),
  );
  return pieces.map((t, k) => (shapes[k].length === 0 ? op.reshape(t, []) : t));
}

/** sqrt(sum of squares) of stacked gradients: the global norm clip_grad_norm_ computes, summed row-wise. */
function stackedGradNorm(stacked: readonly Tensor[]): Tensor {
  const sums = stacked.map((t) => {
    const t32 = t.dtype === 'float32' ? t : op.cast(t, 'float32');
    // Rows first: a whole-tensor reduction runs in one WebGPU workgroup (1.3 ms for 4M values on an H200).
    return op.reduceSumSquare(t32, [-1], t32.rank === 1);
  });
  const flat = sums.map((t) => (t.rank === 1 ? t : op.reshape(t, [t.size])));
  const all = flat.length === 1 ? flat[0] : op.concat(flat, 0);
  return op.sqrt(op.reduceSum(all, [0]));
}

/**
 * WebGPU binds each Split output as a storage buffer and allows 16 per shader (input included): a Split into
 * more pieces fails there, so larger splits go through a tree of Splits.
 */
const MAX_SPLIT_OUTPUTS = 15;

/** Consecutive pieces of `sizes` rows (axis 0), at most MAX_SPLIT_OUTPUTS per Split node. */
function splitRows(t: Tensor, sizes: readonly number[]): Tensor[] {
  if (sizes.length === 1) return [t];
  if (sizes.length <= MAX_SPLIT_OUTPUTS) return op.split(t, sizes, 0);
  const groups: number[][] = [];
  for (let i = 0; i < sizes.length; i += MAX_SPLIT_OUTPUTS)
    groups.push(sizes.slice(i, i + MAX_SPLIT_OUTPUTS));
  const parts = splitRows(
    t,
    groups.map((grp) => grp.reduce((a, b) => a + b, 0)),
  );
  return parts.flatMap((part, i) => splitRows(part, groups[i]));
}

// ---- host references (float64) ----

/** clip_grad_norm_ on host arrays: returns the pre-clipping norm and scales `grads` in place. */
export function clipGradNormHost(grads: Float64Array[], maxNorm: number): { norm: number; coef: number } {
  const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
  const coef = Math.min(maxNorm / (norm + 1e-6), 1);
  grads.forEach((g) => g.forEach((x, i) => (g[i] = x * coef)));
  return { norm, coef };
}

/** One torch.optim.AdamW step on host arrays, in place. `step` is 1-based. */
export function adamWStepHost(
  param: Float64Array,
  grad: Float64Array,
  expAvg: Float64Array,
  expAvgSq: Float64Array,
  step: number,
  lr: number,
  cfg: AdamWConfig,
  decayed = true,
): void {
  const { decay, stepSize, biasCorrection2Sqrt } = adamWScalarValues(step, lr, cfg);
  for (let i = 0; i < param.length; i++) {
    if (decayed) param[i] *= decay;
    expAvg[i] += (grad[i] - expAvg[i]) * (1 - cfg.beta1);
    expAvgSq[i] = expAvgSq[i] * cfg.beta2 + (1 - cfg.beta2) * grad[i] * grad[i];
    param[i] -= (stepSize * expAvg[i]) / (Math.sqrt(expAvgSq[i]) / biasCorrection2Sqrt + cfg.eps);
  }
}
