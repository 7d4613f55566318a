/**
 * Sentence BLEU-4 with one reference, equal to nltk's
 * `sentence_bleu([r], p, smoothing_function=SmoothingFunction().method3)` (nltk/translate/bleu_score.py).
 */
import { defineMetric } from './metric';
import { ngramCount } from './ngrams';

/** nltk `brevity_penalty`: 1 when the hypothesis is longer than the reference, 0 when it is empty. */
export function brevityPenalty(referenceLength: number, hypothesisLength: number): number {
  if (hypothesisLength > referenceLength) return 1;
  if (hypothesisLength === 0) return 0;
  return Math.exp(1 - referenceLength / hypothesisLength);
}

/**
 * `matches[n - 1]` is the clipped n-gram count for n = 1..4. As in nltk: no unigram match gives 0; each order's
 * denominator is the number of hypothesis n-grams but at least 1 (so n > |p| counts as 0 of 1); an order with
 * no match takes 1 / (2^k * denominator), k counting such orders from 1 (NIST geometric smoothing, method3).
 */
export function bleu4(matches: readonly number[], hypothesisLength: number, referenceLength: number): number {
  if (matches[0] === 0) return 0;
  let logSum = 0;
  let k = 1;
  for (let n = 1; n <= 4; n++) {
    const denominator = Math.max(1, ngramCount(hypothesisLength, n));
    const precision = matches[n - 1] > 0 ? matches[n - 1] / denominator : 1 / (2 ** k++ * denominator);
    logSum += 0.25 * Math.log(precision);
  }
  return brevityPenalty(referenceLength, hypothesisLength) * Math.exp(logSum);
}

export const bleu4Metric = defineMetric({
  key: 'bleu4',
  column: 'bleu4',
  kind: 'number',
  label: 'BLEU-4',
  summary: true,
  description: 'BLEU-4 with method-3 smoothing.',
  score: ({ prediction: p, reference: r, matches }) => bleu4(matches, p.length, r.length),
});
