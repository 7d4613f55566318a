/**
 * A job's step metrics as columns (`TrainingJob.metricSeries`): a chart of a long run loads as a few number
 * lists, not one object per step.
 */
import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, Int, ObjectType } from 'type-graphql';

/** Most steps one `metrics` or `metricSeries` answer holds (a longer series continues at `fromStep`). */
export const MAX_SERIES_STEPS = 100_000;

/** Which steps: a range, optionally downsampled to at most `maxPoints` (the last step of each equal bucket). */
export interface StepRange {
  maxPoints?: number | null;
  fromStep?: number | null;
  toStep?: number | null;
}

/** Each numeric column of `training_step_metrics` a series carries, by its field name. */
export const SERIES_COLUMNS = {
  epochs: 'epoch',
  loss: 'loss',
  learningRate: 'learning_rate',
  gradNorm: 'grad_norm',
  tokensPerSecond: 'tokens_per_second',
  elapsedSeconds: 'elapsed_seconds',
} as const;

@ObjectType('StepSeries', {
  description:
    'Step metrics as columns: element i of every list belongs to steps[i]. The compact form of `metrics` for charts.',
})
export class StepSeries implements Record<keyof typeof SERIES_COLUMNS, number[]> {
  @Field(() => [Int], { description: 'Optimizer steps, ascending.' })
  steps: number[];

  @Field(() => [Int], { description: 'Epoch of each step (1-based).' })
  epochs: number[];

  @Field(() => [Float], { description: 'Training loss of each step, measured before its update.' })
  loss: number[];

  @Field(() => [Float], { description: 'Learning rate of each step.' })
  learningRate: number[];

  @Field(() => [Float], { description: 'Global gradient norm of each step, before clipping.' })
  gradNorm: number[];

  @Field(() => [Float], { description: 'Training throughput of each step, tokens per second.' })
  tokensPerSecond: number[];

  @Field(() => [Float], { description: 'Seconds since the run (or its latest resumption) started.' })
  elapsedSeconds: number[];

  @Field(() => GraphQLJSONObject, {
    description:
      'Method-specific and evaluation metrics (e.g. eval_loss): name -> list aligned with steps, null where a step has no value.',
  })
  extra: Record<string, (number | null)[]>;
}

type SeriesRow = Record<keyof typeof SERIES_COLUMNS | 'steps', number[] | null> & {
  extra: (Record<string, number> | null)[] | null;
};

/** The aggregated row (null lists when no step matched) as a series. */
export function toStepSeries(row: SeriesRow): StepSeries {
  const steps = row.steps ?? [];
  const extra: Record<string, (number | null)[]> = {};
  (row.extra ?? []).forEach((values, i) => {
    for (const [name, value] of Object.entries(values ?? {})) {
      (extra[name] ??= Array<number | null>(steps.length).fill(null))[i] = value;
    }
  });
  const columns = Object.fromEntries(
    Object.keys(SERIES_COLUMNS).map((field) => [field, row[field as keyof typeof SERIES_COLUMNS] ?? []]),
  ) as Record<keyof typeof SERIES_COLUMNS, number[]>;
  return { steps, ...columns, extra };
}
