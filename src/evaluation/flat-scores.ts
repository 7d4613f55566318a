/**
 * The twelve numbers of a score set under flat snake_case names (ROUGE as precision, recall and F), as they are
 * stored (evaluation columns) and reported (a training run's `eval_<name>` metrics).
 */
import type { SampleScores } from './metrics';

export const FLAT_SCORE_NAMES = [
  'accuracy',
  'f1',
  'rouge1_precision',
  'rouge1_recall',
  'rouge1_f',
  'rouge2_precision',
  'rouge2_recall',
  'rouge2_f',
  'rouge_l_precision',
  'rouge_l_recall',
  'rouge_l_f',
  'bleu4',
] as const;

export type FlatScoreName = (typeof FLAT_SCORE_NAMES)[number];

export function flattenScores(s: SampleScores): Record<FlatScoreName, number> {
  return {
    accuracy: s.accuracy,
    f1: s.f1,
    rouge1_precision: s.rouge1.precision,
    rouge1_recall: s.rouge1.recall,
    rouge1_f: s.rouge1.f,
    rouge2_precision: s.rouge2.precision,
    rouge2_recall: s.rouge2.recall,
    rouge2_f: s.rouge2.f,
    rouge_l_precision: s.rougeL.precision,
    rouge_l_recall: s.rougeL.recall,
    rouge_l_f: s.rougeL.f,
    bleu4: s.bleu4,
  };
}
