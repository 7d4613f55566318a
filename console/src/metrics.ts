/** The evaluation metrics: each EvaluationMetric value and how to read it from EvaluationScores. */
import type { EvaluationMetric, ScoresFragment as Scores } from './gql';

const rouge = (key: 'rouge1' | 'rouge2' | 'rougeL', part: 'f' | 'precision' | 'recall') => (s: Scores) =>
  s[key][part];

/** Every metric of the schema, in the order the console lists them (a metric the schema gains fails to compile here). */
const READ: Record<EvaluationMetric, (s: Scores) => number> = {
  ROUGE_L_RECALL: rouge('rougeL', 'recall'),
  ROUGE_L_F: rouge('rougeL', 'f'),
  ROUGE_L_PRECISION: rouge('rougeL', 'precision'),
  ROUGE1_F: rouge('rouge1', 'f'),
  ROUGE1_PRECISION: rouge('rouge1', 'precision'),
  ROUGE1_RECALL: rouge('rouge1', 'recall'),
  ROUGE2_F: rouge('rouge2', 'f'),
  ROUGE2_PRECISION: rouge('rouge2', 'precision'),
  ROUGE2_RECALL: rouge('rouge2', 'recall'),
  F1: (s) => s.f1,
  ACCURACY: (s) => s.accuracy,
  BLEU4: (s) => s.bleu4,
};

export const METRICS = Object.entries(READ) as [EvaluationMetric, (s: Scores) => number][];

/** Every score; a query that selects `...Scores` is sent with this appended. */
export const SCORES = /* GraphQL */ `
  fragment Scores on EvaluationScores {
    accuracy
    bleu4
    f1
    rouge1 {
      f
      precision
      recall
    }
    rouge2 {
      f
      precision
      recall
    }
    rougeL {
      f
      precision
      recall
    }
  }
`;
