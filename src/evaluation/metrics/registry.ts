/**
 * The registry of evaluation metrics: every metric of metrics.md, in the order the API and the stored columns
 * list them. Adding a metric is its file (a `defineMetric`) and its entry here, plus a migration adding its columns
 * (src/evaluation/README.md, "Adding a metric"); scoring, the score shapes, the stored columns, the API's enum and
 * fields and the analysts' queries derive from this list.
 */
import { accuracy } from './accuracy';
import { bleu4Metric } from './bleu';
import { f1 } from './f1';
import type { MetricDefinition, PRFPart } from './metric';
import { rouge1, rouge2, rougeL } from './rouge';
import type { PRF } from './scores';

export const METRIC_DEFINITIONS = [
  accuracy,
  f1,
  rouge1,
  rouge2,
  rougeL,
  bleu4Metric,
] as const satisfies readonly MetricDefinition[];

type Registered = (typeof METRIC_DEFINITIONS)[number];

/** A sample's scores: one field per metric, a number or a PRF. */
export type SampleScores = { [M in Registered as M['key']]: M extends { kind: 'prf' } ? PRF : number };

/** The arithmetic mean of each per-sample score over `count` samples. */
export type SetScores = SampleScores & { count: number };

/** A stored score's flat name (its column): a number metric's column, or one of a PRF metric's three. */
export type FlatScoreName = Registered extends infer M
  ? M extends { kind: 'prf'; column: infer C extends string }
    ? `${C}_${PRFPart}`
    : M extends { column: infer C extends string }
      ? C
      : never
  : never;
