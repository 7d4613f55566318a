/**
 * Mixed precision: float16 products with float32 master weights, as torch.autocast + GradScaler do it.
 *
 * - `withMatmulPrecision(g, 'float16', build)`: every MatMul/Gemm of float32 operands built inside casts its
 *   operands to float16, multiplies there and casts the product back to float32. Norms, softmax, the loss, the
 *   gradient sums and AdamW stay in float32; the backward products of those nodes are float16 as well (autodiff
 *   differentiates the casts). Weights are fed and updated in float32.
 * - Loss scaling keeps small float16 gradients from flushing to zero: `scaledGradients` differentiates
 *   loss * S (S the `loss_scale` feed) and divides the gradients by S in float32; `DynamicLossScaler` moves S on
 *   the host like GradScaler. A step whose gradient norm overflowed is dropped by its caller (the trainer reruns
 *   the batch at the halved scale).
 *
 * The WebGPU provider has float16 MatMul, Gemm, Cast, Transpose, Reshape and ReduceSum kernels
 * (src/engine/webgpu-kernels.ts), so a mixed-precision step stays on the device.
 */
import { gradients } from './autodiff';
import { Graph, MatmulDtype, Tensor } from './graph';
import * as op from './ops';

export type { MatmulDtype };

/** Build with MatMul/Gemm of float32 operands computed in `dtype`; restores the graph's previous setting. */
export function withMatmulPrecision<T>(g: Graph, dtype: MatmulDtype, build: () => T): T {
  return g.withSettings({ matmulDtype: dtype }, build);
}

/** Name of the scalar float32 feed holding the loss scale S. */
export const LOSS_SCALE = 'loss_scale';

/** Gradients of `loss` w.r.t. `wrt`, taken through loss * S and divided by S again in float32. */
export function scaledGradients(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const scale = loss.graph.input(LOSS_SCALE, [], 'float32');
  const inverse = op.reciprocal(scale);
  return gradients(op.mul(loss, scale), wrt).map((g) => op.mul(g, inverse));
}

export interface LossScalerOptions {
  initialScale: number;
  growthFactor: number;
  backoffFactor: number;
  /** Consecutive finite steps before the scale grows. */
  growthInterval: number;
}

/** torch.amp.GradScaler's defaults. */
export const LOSS_SCALER_DEFAULTS: LossScalerOptions = {
  initialScale: 2 ** 16,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
};

export interface LossScalerState {
  scale: number;
  growthTracker: number;
}

/**
 * GradScaler.update's rule on the host: a non-finite gradient norm multiplies the scale by backoffFactor (and the
 * step was skipped in the graph); growthInterval finite steps in a row multiply it by growthFactor.
 */
export class DynamicLossScaler {
  private state: LossScalerState;

  constructor(
    private readonly opts: LossScalerOptions = LOSS_SCALER_DEFAULTS,
    state?: LossScalerState,
  ) {
    this.state = state ? { ...state } : { scale: opts.initialScale, growthTracker: 0 };
  }

  get scale(): number {
    return this.state.scale;
  }

  /** The `loss_scale` feed for the next step. */
  feed(): Record<string, { data: Float32Array; shape: [] }> {
    return { [LOSS_SCALE]: { data: new Float32Array([this.state.scale]), shape: [] } };
  }

  /** Record a step's (unscaled) gradient norm; returns whether that step's update was applied. */
  update(gradNorm: number): boolean {
    if (!Number.isFinite(gradNorm)) {
      this.state = { scale: this.state.scale * this.opts.backoffFactor, growthTracker: 0 };
      return false;
    }
    const tracker = this.state.growthTracker + 1;
    this.state =
      tracker === this.opts.growthInterval
        ? { scale: this.state.scale * this.opts.growthFactor, growthTracker: 0 }
        : { scale: this.state.scale, growthTracker: tracker };
    return true;
  }

  /** For checkpoints (torch saves the same two numbers). */
  toJSON(): LossScalerState {
    return { ...this.state };
  }
}
