/**
 * Graph builders shared by the preference methods: a numerically stable log-sigmoid, the pairwise (Bradley-Terry)
 * reward-model loss, per-sequence log-probabilities of response tokens and the DPO sigmoid loss. Everything is
 * made of plain ONNX ops that every execution provider places on the device (Min, Abs, Exp, Log, ...).
 */
import { Tensor } from '../../engine/graph';
import * as op from '../../engine/ops';
import { CausalLMOutputs } from '../../models/model';
import { targetCrossEntropy } from '../sft';

/**
 * log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)). Only exp of a non-positive number is taken, so neither large
 * positive nor large negative x overflows (torch's F.logsigmoid computes the same).
 */
export function logSigmoid(x: Tensor): Tensor {
  return op.sub(op.minimum(x, 0), op.log(op.add(op.exp(op.neg(op.abs(x))), 1)));
}

/** -logsigmoid(chosen - rejected) per pair: the reward model's pairwise loss. (B) */
export function pairwiseLoss(chosen: Tensor, rejected: Tensor): Tensor {
  return op.neg(logSigmoid(op.sub(chosen, rejected)));
}

/**
 * Sum of log p(target) over the positions whose target is not IGNORE_INDEX: the log-probability of a response
 * given its prompt when targets are the labels shifted by one. logits (B, T, V) or a forward's head (chunked where
 * it has one, see targetCrossEntropy), targets (B, T) -> (B)
 */
export function sequenceLogProbs(
  head: Tensor | Pick<CausalLMOutputs, 'logits' | 'tokenLosses'>,
  targets: Tensor,
): Tensor {
  const tokenLosses = targetCrossEntropy(head instanceof Tensor ? { logits: head } : head, targets, 'none'); // (B, T)
  return op.neg(op.reduceSum(tokenLosses, [1]));
}

export interface DpoTerms {
  /** -logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))) (B) */
  losses: Tensor;
  /** Implicit rewards beta * (pi - ref) of the chosen and rejected answers. (B) */
  chosenRewards: Tensor;
  rejectedRewards: Tensor;
}

/** DPO's sigmoid loss from summed response log-probabilities of the policy and the frozen reference, each (B). */
export function dpoTerms(
  policy: { chosen: Tensor; rejected: Tensor },
  reference: { chosen: Tensor; rejected: Tensor },
  beta: number,
): DpoTerms {
  const chosenRewards = op.mul(op.sub(policy.chosen, reference.chosen), beta);
  const rejectedRewards = op.mul(op.sub(policy.rejected, reference.rejected), beta);
  return { losses: pairwiseLoss(chosenRewards, rejectedRewards), chosenRewards, rejectedRewards };
}

/** Per-pair preference metrics summed over the batch: pairs where chosen > rejected, and the summed margin. */
export function preferenceMetricSums(chosen: Tensor, rejected: Tensor): { accuracy: Tensor; margin: Tensor } {
  const margin = op.sub(chosen, rejected); // (B)
  return {
    accuracy: op.reduceSum(op.cast(op.greater(margin, 0), 'float32'), [0]),
    margin: op.reduceSum(margin, [0]),
  };
}
