/** RL's own hyperparameters (part of the one specification, ../../hyperparameters). */
import { MAX_SEQUENCE_LENGTH_LIMIT } from '../../hyperparameters/fields';
import { defineFields } from '../../hyperparameters/field';

const RL = ['RL'] as const;

export const RL_FIELDS = defineFields({
  numGenerations: {
    type: 'int',
    min: 2,
    max: 256,
    methods: RL,
    default: 4,
    description:
      "Completions sampled per prompt; each prompt's completions form one group for the group-relative advantages.",
  },
  maxNewTokens: {
    type: 'int',
    min: 1,
    max: MAX_SEQUENCE_LENGTH_LIMIT,
    methods: RL,
    default: 64,
    description: 'Most tokens of each sampled completion; prompt and completion share maxSequenceLength.',
  },
  temperature: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 100,
    methods: RL,
    default: 1,
    description: 'Sampling temperature of the completions.',
  },
  topP: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 1,
    methods: RL,
    default: 1,
    description:
      'Nucleus sampling: completions sample from the smallest token set with this probability mass.',
  },
  klCoef: {
    type: 'float',
    min: 0,
    max: 100,
    methods: RL,
    default: 0.04,
    description: 'Weight of the KL penalty (k3 estimator) to the frozen reference policy; 0 disables it.',
  },
  clipEpsilon: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 1,
    methods: RL,
    default: 0.2,
    description: 'PPO clip range: the probability ratio is clipped to [1 - clipEpsilon, 1 + clipEpsilon].',
  },
  rlEpochs: {
    type: 'int',
    min: 1,
    max: 100,
    methods: RL,
    default: 2,
    description: 'Optimizer steps taken on each batch of sampled completions.',
  },
});
