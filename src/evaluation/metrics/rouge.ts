/** ROUGE-1 and ROUGE-2 (multiset n-gram overlap) and ROUGE-L (longest common subsequence). */
import { lcsLength } from './lcs';
import { defineMetric } from './metric';
import { ngramCount } from './ngrams';
import { prf } from './scores';

export const rouge1 = defineMetric({
  key: 'rouge1',
  column: 'rouge1',
  kind: 'prf',
  label: 'ROUGE-1',
  description: 'ROUGE-1 (unigrams).',
  score: ({ prediction: p, reference: r, matches }) => prf(matches[0], p.length, r.length),
});

export const rouge2 = defineMetric({
  key: 'rouge2',
  column: 'rouge2',
  kind: 'prf',
  label: 'ROUGE-2',
  description: 'ROUGE-2 (bigrams).',
  score: ({ prediction: p, reference: r, matches }) =>
    prf(matches[1], ngramCount(p.length, 2), ngramCount(r.length, 2)),
});

export const rougeL = defineMetric({
  key: 'rougeL',
  column: 'rouge_l',
  kind: 'prf',
  label: 'ROUGE-L',
  headline: 'recall',
  summary: 'recall',
  description: 'ROUGE-L (longest common subsequence).',
  score: ({ prediction: p, reference: r, interned }) =>
    prf(lcsLength(interned.ids.subarray(0, p.length), interned.ids.subarray(p.length)), p.length, r.length),
});
