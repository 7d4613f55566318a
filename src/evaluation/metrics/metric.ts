/**
 * What a metric is (metrics.md section 2): a scorer over one tokenized prediction-reference pair, the field it
 * fills in a sample's scores, the column(s) it is stored in, and its description. The registry (registry.ts) lists
 * every metric; scoring, the stored columns and the API derive from that list.
 */
import { InternedPair, internPair, ngramMatches } from './ngrams';
import type { PRF } from './scores';

/** The highest n-gram order any metric reads from `TokenPair.matches` (BLEU-4's). */
export const MAX_NGRAM_ORDER = 4;

/** One pair as every scorer sees it: the tokens, interned once, and their n-gram overlaps, counted once. */
export interface TokenPair {
  prediction: readonly string[];
  reference: readonly string[];
  interned: InternedPair;
  /** matches[n - 1]: the clipped n-gram overlap for n = 1..MAX_NGRAM_ORDER. */
  matches: readonly number[];
}

export function tokenPair(prediction: readonly string[], reference: readonly string[]): TokenPair {
  const interned = internPair(prediction, reference);
  return { prediction, reference, interned, matches: ngramMatches(interned, MAX_NGRAM_ORDER) };
}

/** The three numbers of a PRF score, in their column order. */
export const PRF_PARTS = ['precision', 'recall', 'f'] as const;
export type PRFPart = (typeof PRF_PARTS)[number];

interface MetricBase {
  /** Its field in a sample's scores and in the API's EvaluationScores (camelCase). */
  key: string;
  /** Its stored column (snake_case); for a PRF score the stem of its three: `<column>_precision`, ... */
  column: string;
  /** Its name for people, as front ends label its column ("BLEU-4"); a PRF metric's names its three ("ROUGE-1 recall"). */
  label: string;
  /** Its description in the API (ends with a full stop). */
  description: string;
}

/** A metric of one number. */
export interface NumberMetric extends MetricBase {
  kind: 'number';
  /** Whether it is one of the few numbers a summary of scores shows (a row of a list of evaluations). */
  summary?: boolean;
  score(pair: TokenPair): number;
}

/** A metric of precision, recall and F (ROUGE). */
export interface PRFMetric extends MetricBase {
  kind: 'prf';
  /**
   * The number reported as the headline figure of all metrics, if one of this metric's (one metric of the
   * registry has it): descriptions say so, and front ends order samples by it unless asked otherwise.
   */
  headline?: PRFPart;
  /** Which of its numbers a summary of scores shows, if one (see NumberMetric's `summary`). */
  summary?: PRFPart;
  score(pair: TokenPair): PRF;
}

export type MetricDefinition = NumberMetric | PRFMetric;

/** Keeps a definition's literal key and column, from which the score and column types are derived. */
export const defineMetric = <const M extends MetricDefinition>(m: M): M => m;
