/** The scores the pages read: every metric under its EvaluationMetric name, and the three the tables always show. */
import type { EvaluationMetric, ScoresFragment as Scores } from './gql';

/** A query that selects `...Scores` is sent with this appended. */
export const SCORES = /* GraphQL */ `
  fragment Scores on EvaluationScores {
    metrics {
      metric
      value
    }
    f1
    bleu4
    rougeL {
      recall
    }
  }
`;

export const metricValue = (s: Scores, metric: EvaluationMetric): number | null =>
  s.metrics.find((m) => m.metric === metric)?.value ?? null;
