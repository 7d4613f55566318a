/**
 * A job's step metrics as columns (`TrainingJob.metricSeries`, and packed into base64 strings
 * `TrainingJob.packedMetricSeries`): a chart of a long run loads as a few lists, not one object per step.
 */
import { endianness } from 'node:os';
import type { GraphQLScalarType } from 'graphql';
import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import { Float64Base64, FloatList, Int32Base64, IntList } from '../common/number-lists';

/** Most steps one `metrics` or `metricSeries` answer holds (a longer series continues at `fromStep`). */
export const MAX_SERIES_STEPS = 100_000;

/** Which steps: a range, optionally downsampled to at most `maxPoints` (the last step of each equal step range). */
export interface StepRange {
  maxPoints?: number | null;
  fromStep?: number | null;
  toStep?: number | null;
}

/** The columns of `training_step_metrics` a series carries, by field name: integer or double precision, and what. */
const COLUMNS = {
  steps: { column: 'step', int: true, description: 'Optimizer steps, ascending.' },
  epochs: { column: 'epoch', int: true, description: 'Epoch of each step (1-based).' },
  loss: {
    column: 'loss',
    int: false,
    description: 'Training loss of each step, measured before its update.',
  },
  learningRate: { column: 'learning_rate', int: false, description: 'Learning rate of each step.' },
  gradNorm: {
    column: 'grad_norm',
    int: false,
    description: 'Global gradient norm of each step, before clipping.',
  },
  tokensPerSecond: {
    column: 'tokens_per_second',
    int: false,
    description: 'Training throughput of each step, tokens per second.',
  },
  elapsedSeconds: {
    column: 'elapsed_seconds',
    int: false,
    description: 'Seconds since the run (or its latest resumption) started.',
  },
} as const;
type ColumnField = keyof typeof COLUMNS;
const COLUMN_ENTRIES = Object.entries(COLUMNS) as [ColumnField, (typeof COLUMNS)[ColumnField]][];

/** The fields of a series (`StepSeries`'s and `PackedStepSeries`', as they are selected). */
export type SeriesField = ColumnField | 'extra';

/** A series as the resolvers answer it; both GraphQL types below serialise the same object. */
export type StepSeries = Record<ColumnField, ArrayLike<number>> & {
  extra: Record<string, (number | null)[]>;
};

/** A GraphQL object type with a field per column (lists of the given scalars) and `extra`. */
function seriesType(
  name: string,
  description: string,
  lists: { int: GraphQLScalarType; float: GraphQLScalarType },
): abstract new () => StepSeries {
  @ObjectType(name, { description })
  abstract class Series {}
  for (const [field, c] of COLUMN_ENTRIES) {
    Field(() => (c.int ? lists.int : lists.float), { description: c.description })(Series.prototype, field);
  }
  Field(() => GraphQLJSONObject, {
    description:
      'Method-specific and evaluation metrics (e.g. eval_loss): name -> list aligned with steps, null where a step has no value.',
  })(Series.prototype, 'extra');
  return Series as abstract new () => StepSeries;
}

export const StepSeriesType = seriesType(
  'StepSeries',
  'Step metrics as columns: element i of every list belongs to steps[i]. The compact form of `metrics` for charts: ' +
    'each list is one IntList or FloatList value (a JSON array of numbers), so 100,000 steps cost a few values.',
  { int: IntList, float: FloatList },
);

export const PackedStepSeriesType = seriesType(
  'PackedStepSeries',
  'The lists of StepSeries, each packed into one base64 string of little-endian binary numbers (Int32Base64, ' +
    'Float64Base64): the exact stored doubles in about 10.7 characters each, and no number text to write or parse.',
  { int: Int32Base64, float: Float64Base64 },
);

/**
 * The aggregates over the ordered rows `s` that `toStepSeries` reads, for the selected fields only (and steps,
 * which extra is aligned with): each numeric column as the concatenation of its values' binary form
 * (int4send/float8send: no number-to-text conversion in PostgreSQL, no text parsing here, the exact stored
 * doubles), and only the steps that have `extra`, with their step.
 */
export function seriesAggregates(fields: ReadonlySet<string>): Record<string, string> {
  const binary = (send: string, column: string) => `string_agg(${send}(s.${column}), ''::bytea)`;
  const aggregates: Record<string, string> = { count: 'count(*)::int' };
  for (const [field, { column, int }] of COLUMN_ENTRIES) {
    if (fields.has(field) || (field === 'steps' && fields.has('extra')))
      aggregates[field] = binary(int ? 'int4send' : 'float8send', column);
  }
  if (fields.has('extra')) {
    aggregates.extra = 'json_agg(json_build_array(s.step, s.extra)) FILTER (WHERE s.extra IS NOT NULL)';
  }
  return aggregates;
}

/** The table columns the aggregates read. */
export const SERIES_SOURCE_COLUMNS = [...COLUMN_ENTRIES.map(([, c]) => c.column), 'extra'];

/** The aggregated row: a list per selected field (null when no step matched). */
export type SeriesRow = { count: number; extra?: [number, Record<string, number>][] | null } & Partial<
  Record<ColumnField, Buffer | null>
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
  const series: Partial<Record<ColumnField, ArrayLike<number>>> = {};
  for (const [field, { int }] of COLUMN_ENTRIES) {
    if (field in row) series[field] = decode(row[field], row.count, int ? 4 : 8);
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
