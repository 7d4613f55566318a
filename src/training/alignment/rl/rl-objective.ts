/**
 * The RL policy objective over sampled completions: the clipped-ratio loss with the k3 KL penalty per completion
 * token (policy-loss.ts), summed over tokens and normalised by the number of completion tokens of the optimizer
 * step (token-level averaging, so accumulated micro-batches equal one big batch). Metrics: mean per-token KL to
 * the reference and the fraction of tokens whose ratio was clipped.
 *
 * A batch holds input_ids / attention_mask / labels (N, T) of prompt + completion (labels on completion tokens),
 * old_logps and ref_logps (N, T) aligned with the shifted labels, and advantages (N).
 */
import { Graph, Tensor } from '../../../engine/graph';
import * as op from '../../../engine/ops';
import { MemoryLayout } from '../../../models/memory-layout';
import { IGNORE_INDEX } from '../../../data/examples';
import { HostTensor, Objective, ObjectiveOutputs } from '../../objective';
import { CausalLMForward } from '../../parameterization';
import { shiftLabels, targetCrossEntropy } from '../../sft';
import { PolicyLossOptions, clippedPolicyLoss } from './policy-loss';

export const RL_BATCH = {
  oldLogps: 'old_logps',
  refLogps: 'ref_logps',
  advantages: 'advantages',
} as const;

export class RlObjective implements Objective {
  readonly name = 'rl';

  constructor(
    private readonly forward: CausalLMForward,
    private readonly initial: ReadonlyMap<string, HostTensor>,
    private readonly options: PolicyLossOptions,
  ) {}

  build(g: Graph, batch: Readonly<Record<string, Tensor>>, memoryLayout?: MemoryLayout): ObjectiveOutputs {
    const need = ['input_ids', 'attention_mask', 'labels', ...Object.values(RL_BATCH)];
    const missing = need.filter((n) => !batch[n]);
    if (missing.length)
      throw new Error(`rl: a batch needs ${need.join(', ')}; missing ${missing.join(', ')}`);
    const out = this.forward(g, {
      inputIds: batch.input_ids,
      attentionMask: batch.attention_mask,
      memoryLayout,
    }); // logits (N, T, V)
    const targets = shiftLabels(batch.labels); // (N, T)
    const logp = op.neg(targetCrossEntropy(out, targets, 'none'));
    const mask = op.cast(op.not(op.equal(targets, IGNORE_INDEX)), 'float32'); // (N, T)
    const terms = clippedPolicyLoss(
      {
        logp,
        oldLogp: batch[RL_BATCH.oldLogps],
        refLogp: batch[RL_BATCH.refLogps],
        advantages: batch[RL_BATCH.advantages],
      },
      this.options,
    );
    const masked = (x: Tensor) => op.reduceSum(op.mul(x, mask), [0, 1]);
    return {
      lossSum: masked(terms.loss),
      weight: op.reduceSum(mask, [0, 1]),
      params: out.params,
      noise: out.noise,
      metricSums: { kl: masked(terms.kl), clipFraction: masked(terms.clipped) },
    };
  }

  initialParameters(): ReadonlyMap<string, HostTensor> {
    return this.initial;
  }
}
