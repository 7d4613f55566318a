/**
 * Training jobs: creation (checked input, one row, one queue entry), cancellation, resumption from a checkpoint,
 * and the history queries. Rows are written through their owners in src/db/store (status changes checked by the
 * state machine in src/db/job-status.ts); status changes are announced on the project's status channel.
 */
import type { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import {
  CheckpointEntity,
  ParameterScale,
  StepMetricEntity,
  TrainingJobEntity,
  JobStatus as S,
  TrainingMethod,
} from '../../db/entities';
import { RESUMABLE_STATUSES } from '../../db/job-status';
import { RESUME_PATCH, rewindTrainingProgress, transitionJob, type Transition } from '../../db/store/jobs';
import { forgetStepsAfter } from '../../db/store/step-metrics';
import { hydrator } from '../../db/hydrate';
import { statusEvent } from '../../queue/events';
import type { EventPublisher } from '../../queue/publisher';
import type { TypedQueue } from '../../queue/queues';
import { UserInputError } from '../../errors';
import { methodScales, methodWord } from '../../vocabulary';
import { datasetFacts, resolveJobHyperparameters } from '../../training/hyperparameters';
import { cancelJob } from '../common/cancel';
import { findInProject, isUuid } from '../common/ids';
import { checkName } from '../common/names';
import { checkFirst, type Page, toPage } from '../common/paging';
import { insertQueuedJob } from '../common/queued-job';
import type { Principal } from '../context';
import type { DatasetService } from '../datasets/service';
import { badInput, conflict, fromUserInput, notFound } from '../errors';
import type { ModelService } from '../models/service';
import { decodeCursor, encodeCursor } from './cursor';
import { checkJobMemory, jobValidationPrompts } from './memory';
import { HyperparameterSpecification, hyperparameterSpecification } from './hyperparameter-types';
import { modelSpecContext, type ApiHyperparameters } from './hyperparameters';
import {
  MAX_SERIES_STEPS,
  SERIES_SOURCE_COLUMNS,
  type SeriesRow,
  type StepRange,
  type StepSeries,
  seriesAggregates,
  toStepSeries,
} from './step-series';

export interface CreateTrainingJobRequest {
  name: string;
  baseModelId: string;
  datasetId: string;
  method: TrainingMethod;
  parameterScale: ParameterScale;
  hyperparameters?: ApiHyperparameters | null;
  rewardModelJobId?: string | null;
}

export interface JobFilter {
  status?: S[] | null;
  method?: TrainingMethod[] | null;
  baseModelId?: string | null;
  datasetId?: string | null;
}

export class TrainingJobService {
  private readonly toJob: (row: ObjectLiteral) => TrainingJobEntity;

  constructor(
    private readonly db: DataSource,
    private readonly models: ModelService,
    private readonly datasets: DatasetService,
    private readonly queue: TypedQueue<'training'>,
    private readonly events: EventPublisher,
  ) {
    this.toJob = hydrator(db, TrainingJobEntity);
  }

  async get(principal: Principal, id: string): Promise<TrainingJobEntity> {
    const job = await findInProject(this.db, TrainingJobEntity, principal, id);
    if (!job) throw notFound('TrainingJob', id);
    return job;
  }

  async list(
    principal: Principal,
    filter: JobFilter,
    first: number,
    after: string | null,
  ): Promise<Page<TrainingJobEntity>> {
    checkFirst(first);
    const empty = toPage<TrainingJobEntity>([], first, encodeCursor);
    // One query, served by the (project_id, [status | method | base_model_id,] created_at, id) indexes.
    const where = ['project_id = $1'];
    const params: unknown[] = [principal.projectId];
    const add = (sql: (p: string) => string, value: unknown) => {
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    if (filter.status?.length) add((p) => `status = ANY(${p}::text[])`, filter.status);
    if (filter.method?.length) add((p) => `method = ANY(${p}::text[])`, filter.method);
    for (const [key, column] of [
      ['baseModelId', 'base_model_id'],
      ['datasetId', 'dataset_id'],
    ] as const) {
      const id = filter[key];
      if (id === null || id === undefined) continue;
      if (!isUuid(id)) return empty;
      add((p) => `${column} = ${p}::uuid`, id);
    }
    if (after !== null) {
      const c = decodeCursor(after, ['after']);
      params.push(c.createdAt, c.id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(first + 1);
    const raw: ObjectLiteral[] = await this.db.query(
      `SELECT * FROM training_jobs WHERE ${where.join(' AND ')}
        ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return toPage(raw.map(this.toJob), first, encodeCursor);
  }

  async create(principal: Principal, input: CreateTrainingJobRequest): Promise<TrainingJobEntity> {
    const name = checkName(input.name, ['input', 'name']);
    const [model, dataset] = await Promise.all([
      this.models.find(principal, input.baseModelId),
      this.datasets.find(principal, input.datasetId),
    ]);
    if (!model) throw badInput(`no model ${input.baseModelId} in this project`, ['input', 'baseModelId']);
    if (!dataset) throw badInput(`no dataset ${input.datasetId} in this project`, ['input', 'datasetId']);
    const word = methodWord(input.method);
    const wanted = word.datasetKind;
    if (dataset.kind !== wanted) {
      throw badInput(
        `method ${input.method} trains on a ${wanted} dataset; "${dataset.name}" is ${dataset.kind}`,
        ['input', 'datasetId'],
      );
    }
    if (!methodScales(input.method).includes(input.parameterScale)) {
      throw badInput(`method ${input.method} cannot train with parameterScale ${input.parameterScale}`, [
        'input',
        'parameterScale',
      ]);
    }
    let hyperparameters;
    try {
      hyperparameters = resolveJobHyperparameters(input.hyperparameters ?? {}, {
        method: input.method,
        parameterScale: input.parameterScale,
        ...modelSpecContext(model),
        ...datasetFacts(dataset),
        path: ['input', 'hyperparameters'],
      });
    } catch (err) {
      if (err instanceof UserInputError) throw fromUserInput(err);
      throw err;
    }
    const rewardJob = await this.rewardModelOf(principal, input);
    const rewardBase = rewardJob && (await this.models.find(principal, rewardJob.baseModelId));
    checkJobMemory(
      model,
      input.method,
      input.parameterScale,
      hyperparameters,
      rewardJob && rewardBase ? { job: rewardJob, model: rewardBase } : undefined,
      await jobValidationPrompts(this.db, model, dataset, input.parameterScale, hyperparameters),
    );
    const rewardModelJobId = rewardJob?.id ?? null;
    const job = await insertQueuedJob(
      this.db,
      'training',
      {
        projectId: principal.projectId,
        name,
        baseModelId: model.id,
        datasetId: dataset.id,
        method: input.method,
        parameterScale: input.parameterScale,
        hyperparameters,
        rewardModelJobId,
      },
      this.queue,
    );
    await this.announce({ job, previousStatus: null });
    return job;
  }

  /** The hyperparameters a new job may take, for the method, scale and model where given. */
  async hyperparameterSpecification(
    principal: Principal,
    o: { method: TrainingMethod | null; parameterScale: ParameterScale | null; baseModelId: string | null },
  ): Promise<HyperparameterSpecification> {
    const model = o.baseModelId === null ? null : await this.models.find(principal, o.baseModelId);
    if (o.baseModelId !== null && !model) {
      throw badInput(`no model ${o.baseModelId} in this project`, ['baseModelId']);
    }
    try {
      return hyperparameterSpecification({
        method: o.method ?? undefined,
        parameterScale: o.parameterScale ?? undefined,
        ...modelSpecContext(model),
      });
    } catch (err) {
      // A stored recommendation out of range (the registration checked it against the specification of its day).
      if (err instanceof UserInputError) throw fromUserInput(err);
      throw err;
    }
  }

  /**
   * RL scores its completions with a SUCCEEDED REWARD_MODEL job of the caller's project (its final checkpoint);
   * the other methods take none. Another project's job reads as absent, so ids do not leak across projects.
   */
  private async rewardModelOf(
    principal: Principal,
    input: CreateTrainingJobRequest,
  ): Promise<TrainingJobEntity | null> {
    const id = input.rewardModelJobId ?? null;
    const at = ['input', 'rewardModelJobId'];
    if (input.method !== TrainingMethod.RL) {
      if (id !== null) throw badInput(`rewardModelJobId applies only to method RL, not ${input.method}`, at);
      return null;
    }
    if (id === null) throw badInput('method RL needs rewardModelJobId: a SUCCEEDED REWARD_MODEL job', at);
    const job = await findInProject(this.db, TrainingJobEntity, principal, id);
    if (!job) throw badInput(`no training job ${id} in this project`, at);
    if (job.method !== TrainingMethod.REWARD_MODEL) {
      throw badInput(`rewardModelJobId must name a REWARD_MODEL job; "${job.name}" is ${job.method}`, at);
    }
    if (job.status !== S.SUCCEEDED) {
      throw badInput(`reward model job "${job.name}" is ${job.status}; RL needs a SUCCEEDED one`, at);
    }
    return job;
  }

  /**
   * A queued job is cancelled at once; a running one is asked to stop: its worker checkpoints within one step and
   * marks it CANCELLED. Asking again is harmless.
   */
  async cancel(principal: Principal, id: string): Promise<TrainingJobEntity> {
    return cancelJob(id, {
      db: this.db,
      kind: 'training',
      noun: 'job',
      get: () => this.get(principal, id),
      announce: (moved) => this.announce(moved),
      requestCancel: () => this.events.requestCancel(id),
    });
  }

  /**
   * Puts a FAILED or CANCELLED job back in the queue to continue from one of its checkpoints (default: the
   * latest; none: from the start): the steps after that checkpoint are forgotten and run again.
   */
  async resume(principal: Principal, id: string, checkpointId: string | null): Promise<TrainingJobEntity> {
    const job = await this.get(principal, id);
    const checkpoints = this.db.getRepository(CheckpointEntity);
    const checkpoint =
      checkpointId === null
        ? await checkpoints.findOne({ where: { jobId: job.id }, order: { step: 'DESC' } })
        : isUuid(checkpointId)
          ? await checkpoints.findOneBy({ id: checkpointId, jobId: job.id })
          : null;
    if (!checkpoint && checkpointId !== null) {
      throw badInput(`job ${id} has no checkpoint ${checkpointId}`, ['checkpointId']);
    }
    const step = checkpoint?.step ?? 0;
    const moved = await this.db.transaction(async (m) => {
      const t = await transitionJob(m, id, RESUMABLE_STATUSES, S.QUEUED, {
        ...RESUME_PATCH,
        resume_checkpoint_id: checkpoint?.id ?? null,
      });
      if (!t) return null;
      await forgetStepsAfter(m, id, step);
      await rewindTrainingProgress(m, id, step);
      return t;
    });
    if (!moved) {
      throw conflict(
        `job ${id} is ${job.status}; only ${RESUMABLE_STATUSES.join(' or ')} jobs can be resumed`,
      );
    }
    const resumed = await this.get(principal, id);
    await this.queue.add({ jobId: resumed.id, projectId: resumed.projectId });
    await this.announce({ job: resumed, previousStatus: moved.previousStatus });
    return resumed;
  }

  /**
   * The step series, in step order. With `maxPoints`, longer series are cut into that many buckets of equal step
   * ranges and the last step of each bucket is returned (so the final step is always present).
   */
  metrics(jobId: string, range: StepRange): Promise<StepMetricEntity[]> {
    return this.steps(jobId, range).getMany();
  }

  /**
   * The same steps as `metrics`, as one list per metric: one scan in step order, aggregated once into one row
   * (no entity per step, no sort per list; only the selected `fields`; see `seriesAggregates` for the binary lists).
   */
  async metricSeries(jobId: string, range: StepRange, fields: ReadonlySet<string>): Promise<StepSeries> {
    const [first, ...rest] = SERIES_SOURCE_COLUMNS;
    const ordered = this.steps(jobId, range).select(`m.${first}`, first);
    for (const column of rest) ordered.addSelect(`m.${column}`, column);
    // The aggregates take the subquery's order: PostgreSQL never flattens a subquery that sorts.
    const aggregate = this.db.createQueryBuilder().from(`(${ordered.getQuery()})`, 's');
    for (const [name, expression] of Object.entries(seriesAggregates(fields)))
      aggregate.addSelect(expression, name);
    const row = await aggregate.setParameters(ordered.getParameters()).getRawOne<SeriesRow>();
    return toStepSeries(row!);
  }

  /** The steps of a range in step order, as `metrics` documents them. */
  private steps(jobId: string, range: StepRange): SelectQueryBuilder<StepMetricEntity> {
    if (range.maxPoints != null && (range.maxPoints < 1 || range.maxPoints > MAX_SERIES_STEPS)) {
      throw badInput(`maxPoints must be 1 to ${MAX_SERIES_STEPS}`, ['maxPoints']);
    }
    const bounds = { from: range.fromStep ?? 0, to: range.toStep ?? 2 ** 31 - 1 };
    const qb = this.db
      .getRepository(StepMetricEntity)
      .createQueryBuilder('m')
      .where('m.job_id = :jobId', { jobId })
      .orderBy('m.step', 'ASC');
    if (range.maxPoints == null) {
      // A series without maxPoints ends at its MAX_SERIES_STEPS-th step; the caller continues from the next one.
      return qb.andWhere('m.step >= :from AND m.step <= :to', bounds).limit(MAX_SERIES_STEPS);
    }
    // Buckets of equal step ranges between the first and last step (for contiguous steps the equal row counts
    // of ntile), each's last step found by one index probe: an ntile window over every row took 250 ms at
    // 100,000 steps. The steps as an array, matched in the index (the only condition on m.step besides it): a
    // range condition there, with a table not yet analysed, got a plan comparing every row with every step.
    return qb.andWhere(
      `m.step = ANY(ARRAY(
         SELECT last.step
           FROM (SELECT lo - 1 + k * (n / :buckets) + least(k, n % :buckets) AS upto,
                        lo - 1 + (k - 1) * (n / :buckets) + least(k - 1, n % :buckets) AS after
                   FROM (SELECT min(step) AS lo, max(step) - min(step) + 1 AS n FROM training_step_metrics
                          WHERE job_id = :jobId AND step >= :from AND step <= :to) r,
                        generate_series(1, least(:buckets, n)) k) b,
                LATERAL (SELECT step FROM training_step_metrics
                          WHERE job_id = :jobId AND step > b.after AND step <= b.upto
                          ORDER BY step DESC LIMIT 1) last))`,
      { ...bounds, buckets: range.maxPoints },
    );
  }

  checkpoints(jobId: string): Promise<CheckpointEntity[]> {
    return this.db.getRepository(CheckpointEntity).find({ where: { jobId }, order: { step: 'ASC' } });
  }

  private announce(t: Pick<Transition, 'job'> & { previousStatus: S | null }): Promise<void> {
    return this.events.publishStatus(statusEvent(t));
  }
}
