/** DPO's own hyperparameter (part of the one specification, ../hyperparameters). */
import { defineFields } from '../hyperparameters/field';

export const DPO_FIELDS = defineFields({
  beta: {
    type: 'float',
    min: 0,
    minExclusive: true,
    max: 100,
    methods: ['DPO'],
    default: 0.1,
    description:
      'Strength of the implicit KL constraint to the reference model; the implicit rewards are beta x the log-probability ratio.',
  },
});
