/** Bag-of-tokens F1: ROUGE-1's F, except that two empty sequences agree perfectly. */
import { defineMetric } from './metric';
import { prf } from './scores';

export const f1 = defineMetric({
  key: 'f1',
  column: 'f1',
  kind: 'number',
  label: 'F1',
  summary: true,
  description: 'Bag-of-tokens F1.',
  score: ({ prediction: p, reference: r, matches }) =>
    p.length === 0 && r.length === 0 ? 1 : prf(matches[0], p.length, r.length).f,
});
