/**
 * The analysts' reads over stored evaluations, every list a page at a time: results by model, training job,
 * dataset and time, ordered by any metric; the best result per evaluated model on a dataset; the samples of one
 * evaluation ordered by any metric (worst first finds the failures); and evaluations side by side.
 * Every read is scoped to the caller's project.
 */
import type { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { EvaluationJobEntity, JobStatus as S, EvaluationSampleEntity, scoresOf } from '../../db/entities';
import {
  EVALUATION_METRICS,
  EvaluationMetric,
  metricColumn,
  metricValue,
  type SampleScores,
} from '../../evaluation/metrics';
import { isUuid } from '../common/ids';
import type { Principal, RequestContext } from '../context';
import { badInput, notFound } from '../errors';
import { decodeCursor, encodeCursor } from '../training-jobs/cursor';
import { EvaluationLoaders, evaluationLoaders } from './loaders';
import { checkFirst, type Page, toPage } from '../common/paging';
import { CursorKey, decodeValueCursor, encodeValueCursor } from './cursor';
import { SortDirection } from './types';

export interface ResultFilter {
  baseModelId?: string | null;
  trainingJobId?: string | null;
  datasetId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

/** Any of these statuses (none: every status). */
export interface JobFilter extends ResultFilter {
  status?: readonly S[] | null;
}

export interface MetricOrder {
  metric: EvaluationMetric;
  direction: SortDirection;
}

export interface ComparedSample {
  index: number;
  prompt: string;
  reference: string;
  predictions: string[];
  values: number[];
  difference: number;
}

export interface Comparison {
  evaluations: EvaluationJobEntity[];
  metrics: { metric: EvaluationMetric; values: number[]; differences: number[]; bestEvaluationId: string }[];
  sameRows: boolean;
}

export const MAX_COMPARED = 10;

const ordering = (o: MetricOrder) => `${o.metric}:${o.direction}`;
const cmp = (d: SortDirection) => (d === SortDirection.ASC ? '>' : '<');

interface ValueOrder<T> {
  /** Names the ordering in cursors. */
  tag: string;
  valueSql: string;
  keySql: string;
  key: CursorKey;
  direction: SortDirection;
  valueOf: (row: T) => number;
  keyOf: (row: T) => string;
}

/** Pages `qb` ordered by (value, key), both in one direction, after `after`. */
async function pageByValue<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  o: ValueOrder<T>,
  first: number,
  after: string | null,
): Promise<Page<T>> {
  if (after != null) {
    const c = decodeValueCursor(after, o.tag, o.key, ['after']);
    qb.andWhere(`(${o.valueSql}, ${o.keySql}) ${cmp(o.direction)} (:afterValue, :afterKey)`, {
      afterValue: c.value,
      afterKey: c.key,
    });
  }
  const rows = await qb
    .orderBy(o.valueSql, o.direction)
    .addOrderBy(o.keySql, o.direction)
    .limit(first + 1)
    .getMany();
  return toPage(rows, first, (r) => encodeValueCursor(o.tag, { value: o.valueOf(r), key: o.keyOf(r) }));
}

/** Evaluations ordered by an aggregate metric, ties by id. */
function byJobMetric(order: MetricOrder): ValueOrder<EvaluationJobEntity> {
  return {
    tag: ordering(order),
    valueSql: `e.${metricColumn(order.metric)}`,
    keySql: 'e.id',
    key: 'uuid',
    direction: order.direction,
    valueOf: (j) => metricValue(scoresOf(j.scores)!, order.metric),
    keyOf: (j) => j.id,
  };
}

export class EvaluationQueries {
  constructor(private readonly db: DataSource) {}

  /** The request's loaders of training jobs and checkpoints. */
  loaders(ctx: RequestContext): EvaluationLoaders {
    return evaluationLoaders(this.db, ctx);
  }

  private jobs(principal: Principal): SelectQueryBuilder<EvaluationJobEntity> {
    return this.db
      .getRepository(EvaluationJobEntity)
      .createQueryBuilder('e')
      .where('e.project_id = :projectId', { projectId: principal.projectId });
  }

  /** SUCCEEDED evaluations matching the filter: newest first, or by one aggregate metric. */
  results(
    principal: Principal,
    filter: ResultFilter,
    orderBy: MetricOrder | null,
    first: number,
    after: string | null,
  ): Promise<Page<EvaluationJobEntity>> {
    return this.list(principal, { ...filter, status: [S.SUCCEEDED] }, orderBy, first, after);
  }

  /** Evaluations matching the filter (any status unless it names some): newest first, or by a metric. */
  async list(
    principal: Principal,
    filter: JobFilter,
    orderBy: MetricOrder | null,
    first: number,
    after: string | null,
  ): Promise<Page<EvaluationJobEntity>> {
    checkFirst(first);
    const qb = this.jobs(principal);
    if (filter.status?.length) qb.andWhere('e.status IN (:...statuses)', { statuses: filter.status });
    for (const [key, column] of [
      ['baseModelId', 'base_model_id'],
      ['trainingJobId', 'training_job_id'],
      ['datasetId', 'dataset_id'],
    ] as const) {
      const id = filter[key];
      if (id === null || id === undefined) continue;
      if (!isUuid(id)) return toPage([], first, () => '');
      qb.andWhere(`e.${column} = :${key}`, { [key]: id });
    }
    if (filter.from) qb.andWhere('e.created_at >= :from', { from: filter.from });
    if (filter.to) qb.andWhere('e.created_at < :to', { to: filter.to });
    if (orderBy) return pageByValue(qb, byJobMetric(orderBy), first, after);
    if (after != null) {
      const c = decodeCursor(after, ['after']);
      qb.andWhere('(e.created_at, e.id) < (:afterAt, :afterId)', { afterAt: c.createdAt, afterId: c.id });
    }
    const rows = await qb
      .orderBy('e.created_at', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .limit(first + 1)
      .getMany();
    return toPage(rows, first, encodeCursor);
  }

  /**
   * The best SUCCEEDED evaluation of every evaluated model (a base model alone, or one checkpoint of a training
   * job) on a dataset by `metric` (ties: the newest), best first.
   */
  async best(
    principal: Principal,
    datasetId: string,
    metric: EvaluationMetric,
    first: number,
    after: string | null,
  ): Promise<Page<EvaluationJobEntity>> {
    checkFirst(first);
    if (!isUuid(datasetId)) return toPage([], first, () => '');
    const column = metricColumn(metric);
    const qb = this.jobs(principal).andWhere(
      `e.id IN (SELECT DISTINCT ON (base_model_id, training_job_id, checkpoint_id) id FROM evaluation_jobs
                 WHERE project_id = :projectId AND dataset_id = :datasetId AND status = :status
                 ORDER BY base_model_id, training_job_id, checkpoint_id, ${column} DESC, created_at DESC, id DESC)`,
      { datasetId, status: S.SUCCEEDED },
    );
    return pageByValue(qb, byJobMetric({ metric, direction: SortDirection.DESC }), first, after);
  }

  /** The samples of one evaluation: in row order, or by a metric (ties by row index). */
  async samples(
    evaluationId: string,
    orderBy: MetricOrder | null,
    first: number,
    after: string | null,
  ): Promise<Page<EvaluationSampleEntity>> {
    checkFirst(first);
    const qb = this.db
      .getRepository(EvaluationSampleEntity)
      .createQueryBuilder('s')
      .where('s.evaluation_id = :evaluationId', { evaluationId });
    const order: ValueOrder<EvaluationSampleEntity> = orderBy
      ? {
          tag: ordering(orderBy),
          valueSql: `s.${metricColumn(orderBy.metric)}`,
          keySql: 's.index',
          key: 'index',
          direction: orderBy.direction,
          valueOf: (s) => metricValue(scoresOf(s.scores)!, orderBy.metric),
          keyOf: (s) => String(s.index),
        }
      : {
          tag: 'index',
          valueSql: 's.index',
          keySql: 's.index',
          key: 'index',
          direction: SortDirection.ASC,
          valueOf: (s) => s.index,
          keyOf: (s) => String(s.index),
        };
    return pageByValue(qb, order, first, after);
  }

  /** 2 to 10 SUCCEEDED evaluations of the project, each metric side by side with its difference to the first. */
  async compare(principal: Principal, ids: readonly string[]): Promise<Comparison> {
    if (ids.length < 2 || ids.length > MAX_COMPARED) {
      throw badInput(`compare 2 to ${MAX_COMPARED} evaluations, got ${ids.length}`, ['ids']);
    }
    const repeated = ids.findIndex((id, i) => ids.indexOf(id) !== i);
    if (repeated >= 0)
      throw badInput(`evaluation ${ids[repeated]} is listed twice`, ['ids', String(repeated)]);
    const valid = ids.filter(isUuid);
    const found = valid.length
      ? await this.jobs(principal).andWhere('e.id IN (:...ids)', { ids: valid }).getMany()
      : [];
    const evaluations = ids.map((id) => {
      const job = found.find((j) => j.id === id);
      if (!job) throw notFound('EvaluationJob', id);
      return job;
    });
    const scores: SampleScores[] = evaluations.map((job, i) => {
      const s = job.status === S.SUCCEEDED ? scoresOf(job.scores) : null;
      if (!s) throw badInput(`evaluation ${job.id} has no results (it is ${job.status})`, ['ids', String(i)]);
      return s;
    });
    const metrics = EVALUATION_METRICS.map((metric) => {
      const values = scores.map((s) => metricValue(s, metric));
      const best = values.indexOf(Math.max(...values));
      return {
        metric,
        values,
        differences: values.map((v) => v - values[0]),
        bestEvaluationId: evaluations[best].id,
      };
    });
    const [counts] = await this.db.query(
      `SELECT (SELECT count(*) FROM (${this.pairedRows(ids.length)}) p)::int AS paired,
              (SELECT array_agg(n) FROM (SELECT count(*)::int AS n FROM evaluation_samples
                 WHERE evaluation_id = ANY($${ids.length + 1}::uuid[]) GROUP BY evaluation_id) c) AS counts`,
      [...ids, ids],
    );
    const sameRows =
      counts.counts?.length === ids.length && counts.counts.every((n: number) => n === counts.paired);
    return { evaluations, metrics, sameRows };
  }

  /** Rows scored by every one of the compared evaluations ($1..$n), paired by row index, with `metric` of each. */
  private pairedRows(n: number, metric: EvaluationMetric = EvaluationMetric.ACCURACY): string {
    const column = metricColumn(metric);
    const joins = Array.from(
      { length: n - 1 },
      (_, k) =>
        `JOIN evaluation_samples s${k + 1} ON s${k + 1}.evaluation_id = $${k + 2} AND s${k + 1}.index = s0.index`,
    );
    const all = Array.from({ length: n }, (_, k) => `s${k}`);
    return `SELECT s0.index, s0.prompt, s0.reference,
                   ARRAY[${all.map((s) => `${s}.prediction`).join(', ')}] AS predictions,
                   ARRAY[${all.map((s) => `${s}.${column}`).join(', ')}] AS values,
                   s${n - 1}.${column} - s0.${column} AS difference
              FROM evaluation_samples s0 ${joins.join(' ')}
             WHERE s0.evaluation_id = $1`;
  }

  /**
   * The rows of a comparison ordered by the change of `metric` from the first evaluation to the last (ASC, the
   * default: the largest regressions first), ties by row index.
   */
  async comparedSamples(
    ids: readonly string[],
    order: MetricOrder,
    first: number,
    after: string | null,
  ): Promise<Page<ComparedSample>> {
    checkFirst(first);
    const tag = `compare:${ordering(order)}`;
    const params: unknown[] = [...ids];
    let where = '';
    if (after != null) {
      const c = decodeValueCursor(after, tag, 'index', ['after']);
      params.push(c.value, Number(c.key));
      where = `WHERE (difference, index) ${cmp(order.direction)} ($${params.length - 1}::float8, $${params.length}::int)`;
    }
    params.push(first + 1);
    const rows: ComparedSample[] = await this.db.query(
      `SELECT * FROM (${this.pairedRows(ids.length, order.metric)}) p ${where}
        ORDER BY difference ${order.direction}, index ${order.direction} LIMIT $${params.length}`,
      params,
    );
    return toPage(rows, first, (r) => encodeValueCursor(tag, { value: r.difference, key: String(r.index) }));
  }
}
