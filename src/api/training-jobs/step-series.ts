/**
 * A job's step metrics as columns (`TrainingJob.metricSeries`): a chart of a long run loads as a few number
 * lists, not one object per step.
 */
import { endianness } from 'node:os';
import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import { FloatList, IntList } from '../common/number-lists';

/** Most steps one `metrics` or `metricSeries` answer holds (a longer series continues at `fromStep`). */
export const MAX_SERIES_STEPS = 100_000;

/** Which steps: a range, optionally downsampled to at most `maxPoints` (the last step of each of that many equal step ranges). */
export interface StepRange {
  maxPoints?: number | null;
  fromStep?: number | null;
  toStep?: number | null;
}

/** The integer and the double precision columns of `training_step_metrics` a series carries, by field name. */
const INT_COLUMNS = { steps: 'step', epochs: 'epoch' } as const;
const FLOAT_COLUMNS = {
  loss: 'loss',
  learningRate: 'learning_rate',
  gradNorm: 'grad_norm',
  tokensPerSecond: 'tokens_per_second',
  elapsedSeconds: 'elapsed_seconds',
} as const;
type IntField = keyof typeof INT_COLUMNS;
type FloatField = keyof typeof FLOAT_COLUMNS;

/** The fields of a series (`StepSeries`'s, as they are selected). */
export type SeriesField = IntField | FloatField | 'extra';

@ObjectType('StepSeries', {
  description:
    'Step metrics as columns: element i of every list belongs to steps[i]. The compact form of `metrics` for charts: ' +
    'each list is one IntList or FloatList value (a JSON array of numbers), so 100,000 steps cost a few values.',
})
export class StepSeries implements Record<IntField | FloatField, ArrayLike<number>> {
  @Field(() => IntList, { description: 'Optimizer steps, ascending.' })
  steps: ArrayLike<number>;

  @Field(() => IntList, { description: 'Epoch of each step (1-based).' })
  epochs: ArrayLike<number>;

  @Field(() => FloatList, { description: 'Training loss of each step, measured before its update.' })
  loss: ArrayLike<number>;

  @Field(() => FloatList, { description: 'Learning rate of each step.' })
  learningRate: ArrayLike<number>;

  @Field(() => FloatList, { description: 'Global gradient norm of each step, before clipping.' })
  gradNorm: ArrayLike<number>;

  @Field(() => FloatList, { description: 'Training throughput of each step, tokens per second.' })
  tokensPerSecond: ArrayLike<number>;

  @Field(() => FloatList, { description: 'Seconds since the run (or its latest resumption) started.' })
  elapsedSeconds: ArrayLike<number>;

  @Field(() => GraphQLJSONObject, {
    description:
      'Method-specific and evaluation metrics (e.g. eval_loss): name -> list aligned with steps, null where a step has no value.',
  })
  extra: Record<string, (number | null)[]>;
}

/**
 * The aggregates over the ordered rows `s` that `toStepSeries` reads, for the selected fields only (and steps,
 * which extra is aligned with): each numeric column as the concatenation of its values' binary form
 * (int4send/float8send: no number-to-text conversion in PostgreSQL, no text parsing here, the exact stored
 * doubles), and only the steps that have `extra`, with their step.
 */
export function seriesAggregates(fields: ReadonlySet<string>): Record<string, string> {
  const binary = (send: string, column: string) => `string_agg(${send}(s.${column}), ''::bytea)`;
  const aggregates: Record<string, string> = { count: 'count(*)::int' };
  for (const [field, column] of Object.entries(INT_COLUMNS)) {
    if (fields.has(field) || (field === 'steps' && fields.has('extra')))
      aggregates[field] = binary('int4send', column);
  }
  for (const [field, column] of Object.entries(FLOAT_COLUMNS)) {
    if (fields.has(field)) aggregates[field] = binary('float8send', column);
  }
  if (fields.has('extra')) {
    aggregates.extra = 'json_agg(json_build_array(s.step, s.extra)) FILTER (WHERE s.extra IS NOT NULL)';
  }
  return aggregates;
}

/** The table columns the aggregates read. */
export const SERIES_SOURCE_COLUMNS = [
  ...Object.values(INT_COLUMNS),
  ...Object.values(FLOAT_COLUMNS),
  'extra',
];

/** The aggregated row: a list per selected field (null when no step matched). */
export type SeriesRow = { count: number; extra?: [number, Record<string, number>][] | null } & Partial<
  Record<IntField | FloatField, Buffer | null>
>;

/** Big-endian values of `width` bytes each; exactly `count` of them (the columns are NOT NULL). */
function decode(bytes: Buffer | null | undefined, count: number, width: 4 | 8): Int32Array | Float64Array {
  const n = (bytes?.length ?? 0) / width;
  if (n !== count) throw new Error(`step series: ${n} values for ${count} steps`);
  // Copied into an aligned typed array and byte-swapped natively (PostgreSQL sends big-endian): a tenth of the
  // time a readDoubleBE per value takes.
  const values = width === 4 ? new Int32Array(n) : new Float64Array(n);
  const raw = Buffer.from(values.buffer);
  if (n > 0) bytes!.copy(raw);
  if (endianness() === 'LE') {
    if (width === 4) raw.swap32();
    else raw.swap64();
  }
  return values;
}

/** The aggregated row as a series (with the selected fields only: graphql-js reads no other). */
export function toStepSeries(row: SeriesRow): StepSeries {
  const series: Partial<Record<IntField | FloatField, ArrayLike<number>>> = {};
  for (const field of Object.keys(INT_COLUMNS) as IntField[]) {
    if (field in row) series[field] = decode(row[field], row.count, 4);
  }
  for (const field of Object.keys(FLOAT_COLUMNS) as FloatField[]) {
    if (field in row) series[field] = decode(row[field], row.count, 8);
  }
  const extra: Record<string, (number | null)[]> = {};
  // Both in step order: walk the steps once, placing each step's extra values at its index.
  let i = 0;
  for (const [step, values] of row.extra ?? []) {
    while (i < row.count && series.steps![i] !== step) i++;
    if (i === row.count) throw new Error(`step series: extra of step ${step} outside the steps`);
    for (const [name, value] of Object.entries(values)) {
      (extra[name] ??= Array<number | null>(row.count).fill(null))[i] = value;
    }
  }
  return { ...series, extra } as StepSeries;
}
