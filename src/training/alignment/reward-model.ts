/**
 * Reward-model training: a scalar head read at each sequence's last real token, trained on preference pairs
 * with the pairwise loss -logsigmoid(r_chosen - r_rejected) (Bradley-Terry), averaged over pairs.
 * Metrics: accuracy (r_chosen > r_rejected) and mean margin (r_chosen - r_rejected).
 *
 * Full update trains every weight the forward pass reads (the head included) through the ordinary full
 * parameterization of a sequence-classification model; LoRA trains the adapter and the head, which peft keeps
 * whole as a `modules_to_save` module (see reward-checkpoint.ts).
 */
import { Graph, Tensor } from '../../engine/graph';
import * as nn from '../../engine/nn';
import * as op from '../../engine/ops';
import { UnavailableError } from '../../errors';
import { lastTokenIndex, pickPositions } from '../../models/families/builder';
import { MemoryLayout } from '../../models/memory-layout';
import { LoadedModel, buildCausalLM, initialParameters, resolveAdapter } from '../../models/model';
import { HostTensor, Objective, ObjectiveOutputs } from '../objective';
import { CausalLMForward, Parameterization, ParameterizeOptions, parameterize } from '../parameterization';
import { pairwiseLoss, preferenceMetricSums } from './losses';
import { LoraAdapter, loraSpecOf } from './lora';
import { pairedInputs, splitPairs } from './paired-batch';
import { readRewardAdapter, writeRewardAdapter } from './reward-checkpoint';
import { PEFT_SCORE_WEIGHT, SCORE_WEIGHT } from './score-head';

export class RewardModelObjective implements Objective {
  readonly name = 'reward_model';

  constructor(
    /** A forward pass that honours `head: 'score'` and `logitsAt`. */
    private readonly forward: CausalLMForward,
    private readonly initial: ReadonlyMap<string, HostTensor>,
  ) {}

  build(g: Graph, batch: Readonly<Record<string, Tensor>>, memoryLayout?: MemoryLayout): ObjectiveOutputs {
    const paired = pairedInputs(batch, this.name);
    const { logits, params, noise } = this.forward(g, {
      inputIds: paired.inputIds,
      attentionMask: paired.attentionMask,
      head: 'score',
      logitsAt: lastTokenIndex(paired.attentionMask),
      memoryLayout,
    }); // (2B, 1, 1): the reward at each row's last real token
    const rewards = op.reshape(logits, [2 * paired.pairs]);
    const { chosen, rejected } = splitPairs(rewards, paired.pairs); // (B) each
    const lossSum = op.reduceSum(pairwiseLoss(chosen, rejected), [0]);
    const weight = g.constant(paired.pairs, 'float32');
    return { lossSum, weight, params, noise, metricSums: preferenceMetricSums(chosen, rejected) };
  }

  initialParameters(): ReadonlyMap<string, HostTensor> {
    return this.initial;
  }
}

/** The LoRA adapter of a reward-model run: from a SEQ_CLS adapter folder (with its head), else fresh. */
function loraAdapter(m: LoadedModel, o: ParameterizeOptions): { adapter: LoraAdapter; head: HostTensor } {
  if (o.adapterDir) return readRewardAdapter(o.adapterDir, m);
  const adapter = resolveAdapter(m, loraSpecOf(o.hyperparameters), () => o.rng.next()) as LoraAdapter;
  return { adapter, head: m.weights.get(SCORE_WEIGHT) };
}

/**
 * What a reward-model run trains, for `m` a one-label sequence-classification model (see withScoreHead).
 * Full: every weight the forward reads, through the ordinary full parameterization (the config's default head is
 * the score head). LoRA: the adapter tensors and the head, under PEFT names; its forward always ends in the
 * trainable head, read at `logitsAt` when given.
 */
export function rewardParameterization(m: LoadedModel, o: ParameterizeOptions): Parameterization {
  if (m.config.head !== 'sequence_classification' || m.config.numLabels !== 1) {
    throw new Error('rewardParameterization: the model needs a one-label score head (withScoreHead)');
  }
  if (o.scale === 'full') return parameterize(m, o);
  if (o.scale !== 'lora') {
    throw new UnavailableError('reward models train with parameterScale FULL or LORA, not PROMPT_TUNING');
  }
  const { adapter, head } = loraAdapter(m, o);
  return {
    forward: (g, x) => {
      const out = buildCausalLM(g, m, { ...x, policy: 'adapter', adapter, head: 'score' });
      const score = g.param(PEFT_SCORE_WEIGHT, [1, m.config.hiddenSize]);
      const at = x.logitsAt ? pickPositions(out.hidden, x.logitsAt) : out.hidden; // (N, T or 1, C)
      const params = new Map(out.params).set(PEFT_SCORE_WEIGHT, score);
      return { logits: nn.linear(at, score), hidden: out.hidden, params, noise: out.noise };
    },
    initial: new Map<string, HostTensor>(initialParameters(m, 'adapter', adapter)).set(
      PEFT_SCORE_WEIGHT,
      head,
    ),
    save: (dir, values) => writeRewardAdapter(dir, m, adapter, values),
    adapter,
  };
}
