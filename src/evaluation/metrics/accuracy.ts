/** Accuracy: exact match of the token sequences (two empty sequences match). */
import { defineMetric } from './metric';

export const accuracy = defineMetric({
  key: 'accuracy',
  column: 'accuracy',
  kind: 'number',
  label: 'Accuracy',
  description: 'Exact match of the token sequences.',
  score: ({ prediction: p, reference: r }) =>
    p.length === r.length && p.every((token, i) => token === r[i]) ? 1 : 0,
});
