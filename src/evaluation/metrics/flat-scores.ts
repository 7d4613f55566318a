/**
 * Every number of a score set under a flat snake_case name, derived from the metric registry (ROUGE as precision,
 * recall and F): the names are the stored columns (evaluation_jobs, evaluation_samples) and a training run's
 * `eval_<name>` metrics; upper-cased they are the API's EvaluationMetric values.
 */
import { PRF_PARTS, PRFPart } from './metric';
import { FlatScoreName, METRIC_DEFINITIONS, SampleScores } from './registry';
import type { PRF } from './scores';

/**
 * One stored number: its flat name, its label and description in the API, whether a summary shows it, and where it
 * sits in a sample's scores.
 */
export interface FlatScore {
  name: FlatScoreName;
  label: string;
  description: string;
  summary: boolean;
  /** Whether it is the headline figure of all metrics (the registry's one `headline` number). */
  headline: boolean;
  read: (s: SampleScores) => number;
}

const PART_WORD: Record<PRFPart, string> = { precision: 'precision', recall: 'recall', f: 'F' };

export const FLAT_SCORES: readonly FlatScore[] = METRIC_DEFINITIONS.flatMap((m): FlatScore[] =>
  m.kind === 'prf'
    ? PRF_PARTS.map((part) => {
        const label = `${m.label} ${PART_WORD[part]}`;
        const headline = 'headline' in m && m.headline === part;
        return {
          name: `${m.column}_${part}`,
          label,
          description: `${label}${headline ? ' (the headline metric)' : ''}.`,
          summary: 'summary' in m && m.summary === part,
          headline,
          read: (s) => (s[m.key] as PRF)[part],
        };
      })
    : [
        {
          name: m.column,
          label: m.label,
          description: m.description,
          summary: 'summary' in m && m.summary === true,
          headline: false,
          read: (s) => s[m.key] as number,
        },
      ],
);

export const FLAT_SCORE_NAMES: readonly FlatScoreName[] = FLAT_SCORES.map((f) => f.name);

export function flattenScores(s: SampleScores): Record<FlatScoreName, number> {
  return Object.fromEntries(FLAT_SCORES.map((f) => [f.name, f.read(s)])) as Record<FlatScoreName, number>;
}

/** Flat scores (a stored row) back to a sample's scores. */
export function unflattenScores(flat: Readonly<Record<FlatScoreName, number>>): SampleScores {
  const column = (name: string) => flat[name as FlatScoreName];
  const prf = (stem: string): PRF => ({
    precision: column(`${stem}_precision`),
    recall: column(`${stem}_recall`),
    f: column(`${stem}_f`),
  });
  return Object.fromEntries(
    METRIC_DEFINITIONS.map((m) => [m.key, m.kind === 'prf' ? prf(m.column) : column(m.column)]),
  ) as SampleScores;
}

/** A stored number as the API names it for ordering and comparison: its flat name, upper-cased. */
export type EvaluationMetric = Uppercase<FlatScoreName>;

const BY_METRIC = new Map(FLAT_SCORES.map((f) => [f.name.toUpperCase() as EvaluationMetric, f]));

/** Every EvaluationMetric, in registry order; `EvaluationMetric.ROUGE_L_RECALL` names one. */
export const EvaluationMetric = Object.fromEntries([...BY_METRIC.keys()].map((m) => [m, m])) as {
  readonly [M in EvaluationMetric]: M;
};

export const EVALUATION_METRICS: readonly EvaluationMetric[] = [...BY_METRIC.keys()];

const flatScore = (m: EvaluationMetric): FlatScore => BY_METRIC.get(m)!;

export const metricColumn = (m: EvaluationMetric): FlatScoreName => flatScore(m).name;

export const metricValue = (s: SampleScores, m: EvaluationMetric): number => flatScore(m).read(s);

export const metricDescription = (m: EvaluationMetric): string => flatScore(m).description;

export const metricLabel = (m: EvaluationMetric): string => flatScore(m).label;

/** Whether a summary of scores (a row of a list of evaluations) shows `m`: the registry's `summary` numbers. */
export const isSummaryMetric = (m: EvaluationMetric): boolean => flatScore(m).summary;

/** Whether `m` is the headline figure of all metrics (the registry's `headline` number; there is one). */
export const isHeadlineMetric = (m: EvaluationMetric): boolean => flatScore(m).headline;
