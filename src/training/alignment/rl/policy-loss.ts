/**
 * The per-token RL objective on a graph: PPO's clipped surrogate with group-relative advantages, plus a KL
 * penalty to the frozen reference policy with the k3 estimator (Schulman, "Approximating KL divergence"):
 *
 *   ratio    = exp(logp - logp_old)
 *   loss_t   = -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) + klCoef * k3
 *   k3       = exp(logp_ref - logp) - (logp_ref - logp) - 1      (>= 0, unbiased for KL(pi || ref))
 *
 * A token counts as clipped when the clipped branch is the smaller one, i.e. the ratio left the trust region in
 * the direction the advantage pushes it (ratio < 1 - eps with A < 0, or ratio > 1 + eps with A > 0): there its
 * surrogate gradient is zero.
 */
import { Tensor } from '../../../engine/graph';
import * as op from '../../../engine/ops';

export interface PolicyLossInputs {
  /** log pi(token) of the policy being trained (differentiable). (N, T) */
  logp: Tensor;
  /** log-probabilities under the policy that sampled the tokens. (N, T) */
  oldLogp: Tensor;
  /** log-probabilities under the frozen reference policy. (N, T) */
  refLogp: Tensor;
  /** One advantage per sequence. (N) */
  advantages: Tensor;
}

export interface PolicyLossOptions {
  clipEpsilon: number;
  klCoef: number;
}

export interface PolicyLossTerms {
  /** Per-token loss. (N, T) */
  loss: Tensor;
  /** Per-token k3 estimate of KL(pi || ref). (N, T) */
  kl: Tensor;
  /** 1 where the clipped branch is active, else 0. (N, T) float32 */
  clipped: Tensor;
}

export function clippedPolicyLoss(x: PolicyLossInputs, o: PolicyLossOptions): PolicyLossTerms {
  const [n] = x.advantages.shape;
  const adv = op.reshape(x.advantages, [n, 1]); // (N, 1)
  const ratio = op.exp(op.sub(x.logp, x.oldLogp)); // (N, T)
  const unclipped = op.mul(ratio, adv);
  const clippedTerm = op.mul(op.clip(ratio, 1 - o.clipEpsilon, 1 + o.clipEpsilon), adv);
  const surrogate = op.minimum(unclipped, clippedTerm);
  const refDelta = op.sub(x.refLogp, x.logp); // (N, T)
  const kl = op.sub(op.sub(op.exp(refDelta), refDelta), 1);
  const loss = op.add(op.neg(surrogate), op.mul(kl, o.klCoef));
  const clipped = op.cast(op.less(clippedTerm, unclipped), 'float32');
  return { loss, kl, clipped };
}
