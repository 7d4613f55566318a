/**
 * Direct preference optimization (Rafailov et al.), sigmoid loss:
 *   loss = -logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))   per pair, averaged over pairs,
 * with pi / ref the log-probabilities of an answer's tokens (after the prompt, through EOS) summed, under the
 * policy and under the frozen reference. Metrics: implicit rewards beta * (pi - ref) of chosen and rejected,
 * accuracy (chosen reward > rejected reward) and margin.
 *
 * The reference is the base model without any adapter (for LoRA / prompt tuning: the adapter switched off; for a
 * full update: the weights before training). Its log-probabilities never change, so they are computed once per
 * example before training, in a separate forward-only session that is released before the policy's sessions
 * start: no second copy of the weights lives alongside the training graph. Batches then carry them as
 * `ref_chosen_logps` / `ref_rejected_logps` (B).
 */
import { Graph, Tensor } from '../../engine/graph';
import * as op from '../../engine/ops';
import { MemoryLayout } from '../../models/memory-layout';
import { LoadedModel, buildCausalLM } from '../../models/model';
import { CollateOptions, collatePreference } from '../batches';
import { PreferenceExample } from '../../data/examples';
import { Batch, HostTensor, Objective, ObjectiveOutputs } from '../objective';
import { CausalLMForward } from '../parameterization';
import { shiftLabels } from '../sft';
import { dpoTerms, preferenceMetricSums, sequenceLogProbs } from './losses';
import { LogProbsOptions, TokenLogProbs, scoredBatch } from './log-probs';
import type { PaddingOptions } from './padding';
import { pairedInputs, splitPairs } from './paired-batch';

export const DEFAULT_BETA = 0.1;

/** A preference example with the reference model's summed answer log-probabilities. */
export interface DpoExample extends PreferenceExample {
  refChosen: number;
  refRejected: number;
}

const REF_CHOSEN = 'ref_chosen_logps';
const REF_REJECTED = 'ref_rejected_logps';

export class DpoObjective implements Objective {
  readonly name = 'dpo';

  constructor(
    private readonly forward: CausalLMForward,
    private readonly initial: ReadonlyMap<string, HostTensor>,
    private readonly beta = DEFAULT_BETA,
  ) {}

  build(g: Graph, batch: Readonly<Record<string, Tensor>>, memoryLayout?: MemoryLayout): ObjectiveOutputs {
    const paired = pairedInputs(batch, this.name, true);
    const refChosen = batch[REF_CHOSEN];
    const refRejected = batch[REF_REJECTED];
    if (!refChosen || !refRejected) {
      throw new Error(`dpo: a batch needs the reference log-probabilities ${REF_CHOSEN} and ${REF_REJECTED}`);
    }
    const { inputIds, attentionMask } = paired;
    const out = this.forward(g, { inputIds, attentionMask, memoryLayout }); // logits (2B, T, V)
    const policy = splitPairs(sequenceLogProbs(out, shiftLabels(paired.labels!)), paired.pairs); // (B) each
    const terms = dpoTerms(policy, { chosen: refChosen, rejected: refRejected }, this.beta);
    const { accuracy, margin } = preferenceMetricSums(terms.chosenRewards, terms.rejectedRewards);
    return {
      lossSum: op.reduceSum(terms.losses, [0]),
      weight: g.constant(paired.pairs, 'float32'),
      params: out.params,
      noise: out.noise,
      metricSums: {
        rewardsChosen: op.reduceSum(terms.chosenRewards, [0]),
        rewardsRejected: op.reduceSum(terms.rejectedRewards, [0]),
        accuracy,
        margin,
      },
    };
  }

  initialParameters(): ReadonlyMap<string, HostTensor> {
    return this.initial;
  }
}

/** The frozen reference policy: `base` as loaded, no adapter. */
export function referenceForward(base: LoadedModel): CausalLMForward {
  return (g, x) => buildCausalLM(g, base, { ...x, policy: 'frozen' });
}

/**
 * The reference's summed answer log-probabilities of every example, run `batchSize` pairs at a time in one
 * forward-only session that is released afterwards.
 */
export async function withReferenceLogProbs(
  base: LoadedModel,
  examples: readonly PreferenceExample[],
  o: LogProbsOptions & PaddingOptions & { batchSize: number },
): Promise<DpoExample[]> {
  const scorer = new TokenLogProbs(referenceForward(base), o);
  const padding = {
    padTokenId: base.config.padTokenId ?? 0,
    maxLength: base.config.maxPositionEmbeddings,
    ...o,
  };
  const out: DpoExample[] = [];
  try {
    for (let i = 0; i < examples.length; i += o.batchSize) {
      const chunk = examples.slice(i, i + o.batchSize);
      const rows = [
        ...chunk.map((e) => ({ ids: e.chosenIds, from: e.promptLength })),
        ...chunk.map((e) => ({ ids: e.rejectedIds, from: e.promptLength })),
      ];
      const sums = await scorer.sums(scoredBatch(rows, padding));
      chunk.forEach((e, j) => out.push({ ...e, refChosen: sums[j], refRejected: sums[chunk.length + j] }));
    }
  } finally {
    await scorer.release();
  }
  return out;
}

/** A DPO micro-batch: the preference tensors plus the reference log-probabilities (B) float32. */
export function collateDpo(examples: readonly DpoExample[], o: CollateOptions): Batch {
  if (examples.some((e) => Number.isNaN(e.refChosen) || Number.isNaN(e.refRejected))) {
    throw new Error(
      'dpo: reference log-probabilities were not computed (withReferenceLogProbs) before collating',
    );
  }
  const batch = collatePreference(examples, o);
  const column = (pick: (e: DpoExample) => number): HostTensor => ({
    data: Float32Array.from(examples, pick),
    shape: [examples.length],
    dtype: 'float32',
  });
  batch.tensors[REF_CHOSEN] = column((e) => e.refChosen);
  batch.tensors[REF_REJECTED] = column((e) => e.refRejected);
  return batch;
}
