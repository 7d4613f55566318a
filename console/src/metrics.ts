/**
 * The evaluation metrics as the pages show them: every score under its EvaluationMetric name, labelled and chosen
 * for the summary columns by the API (`evaluationMetrics`, from the server's metric registry), never here.
 */
import type { EvaluationMetric, EvaluationMetricsQuery, ScoresFragment as Scores } from './gql';
import { useQuery } from './ui';

/** A query that selects `...Scores` is sent with this appended. */
export const SCORES = /* GraphQL */ `
  fragment Scores on EvaluationScores {
    metrics {
      metric
      value
    }
  }
`;

const EVALUATION_METRICS = /* GraphQL */ `
  query EvaluationMetrics {
    evaluationMetrics {
      metric
      label
      description
      summary
      headline
    }
  }
`;

export type MetricInfo = EvaluationMetricsQuery['evaluationMetrics'][number];

export const metricValue = (s: Scores, metric: EvaluationMetric): number | null =>
  s.metrics.find((m) => m.metric === metric)?.value ?? null;

/**
 * Every metric in the enum's order, the ones a summary shows, the headline one (what samples are ordered by unless
 * one is chosen; undefined until they arrive), and a metric's label (its name until they arrive).
 */
export function useMetrics() {
  const all = useQuery<EvaluationMetricsQuery>(EVALUATION_METRICS).data?.evaluationMetrics ?? [];
  return {
    all,
    summary: all.filter((m) => m.summary),
    headline: all.find((m) => m.headline)?.metric,
    label: (metric: EvaluationMetric) => all.find((m) => m.metric === metric)?.label ?? metric,
  };
}
