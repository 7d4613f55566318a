import {
  Arg,
  Ctx,
  FieldResolver,
  Float,
  ID,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import { JobStatus, scoresOf } from '../../db/entities';
import { EvaluationMetric } from '../../evaluation/metrics';
import { canCancel, canResume, RESUMABLE_STATUSES } from '../../db/job-status';
import { checkpointOf, trainingJobOf } from '../common/generating-model-fields';
import { canCancelField, canResumeField, either } from '../common/job-actions';
import { ATTEMPT_HISTORY, JobAttempt } from '../common/job-attempts';
import { FIRST } from '../common/paging';
import type { RequestContext, SubscribeData } from '../context';
import { Dataset } from '../datasets/types';
import { BaseModel } from '../models/types';
import { Checkpoint, TrainingJob } from '../training-jobs/types';
import {
  CreateEvaluationJobInput,
  EvaluationComparison,
  EvaluationJob,
  EvaluationJobConnection,
  EvaluationJobFilter,
  EvaluationJobProgressEvent,
  EvaluationMetricInfo,
  evaluationMetricInfos,
  EvaluationResultFilter,
  EvaluationResultOrder,
  EvaluationSampleConnection,
  EvaluationSampleOrder,
  EvaluationScores,
  metricValues,
  MetricValue,
  SampleComparisonConnection,
  SortDirection,
} from './types';

const AFTER = { nullable: true, description: 'Cursor of the last item of the previous page.' };

@Resolver(() => EvaluationJob)
export class EvaluationJobResolver {
  @Query(() => [EvaluationMetricInfo], {
    description:
      'Every EvaluationMetric, in the enum’s order, with its label, description, whether summaries show it and whether it is the headline metric: front ends head their score columns and order samples from it.',
  })
  evaluationMetrics(): EvaluationMetricInfo[] {
    return evaluationMetricInfos();
  }

  @Query(() => EvaluationJob, { description: 'One evaluation of the project (NOT_FOUND otherwise).' })
  evaluationJob(
    @Arg('id', () => ID, { description: 'Evaluation id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJob> {
    return services.evaluations.jobs.get(principal, id);
  }

  @Query(() => EvaluationJobConnection, {
    description:
      "The project's SUCCEEDED evaluations matching the filter: newest first, or ordered by one aggregate metric.",
  })
  evaluationResults(
    @Arg('filter', () => EvaluationResultFilter, {
      nullable: true,
      description: 'Conditions every result meets.',
    })
    filter: EvaluationResultFilter | null,
    @Arg('orderBy', () => EvaluationResultOrder, {
      nullable: true,
      description: 'Order by a metric; default: newest first.',
    })
    orderBy: EvaluationResultOrder | null,
    @Arg('first', () => Int, FIRST) first: number,
    @Arg('after', () => String, AFTER) after: string | null,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJobConnection> {
    return services.evaluations.queries.results(principal, filter ?? {}, orderBy, first, after);
  }

  @Query(() => EvaluationJobConnection, {
    description:
      "The project's evaluations of every status (QUEUED, RUNNING, finished), newest first, a page at a time.",
  })
  evaluationJobs(
    @Arg('filter', () => EvaluationJobFilter, {
      nullable: true,
      description: 'Conditions every listed evaluation meets.',
    })
    filter: EvaluationJobFilter | null,
    @Arg('first', () => Int, FIRST) first: number,
    @Arg('after', () => String, AFTER) after: string | null,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJobConnection> {
    return services.evaluations.queries.list(principal, filter ?? {}, null, first, after);
  }

  @Query(() => EvaluationJobConnection, {
    description:
      'On one dataset, the best SUCCEEDED evaluation of every evaluated model (a base model alone, or one checkpoint of a training job) by a metric, best first.',
  })
  async bestEvaluations(
    @Arg('datasetId', () => ID, { description: 'A dataset of the project (NOT_FOUND otherwise).' })
    datasetId: string,
    @Arg('metric', () => EvaluationMetric, { description: 'The metric that decides.' })
    metric: EvaluationMetric,
    @Arg('first', () => Int, FIRST) first: number,
    @Arg('after', () => String, AFTER) after: string | null,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJobConnection> {
    await services.datasets.get(principal, datasetId);
    return services.evaluations.queries.best(principal, datasetId, metric, first, after);
  }

  @Query(() => EvaluationComparison, {
    description:
      'Two to ten SUCCEEDED evaluations of the project side by side: every metric with its difference to the first (the baseline), and their samples paired by dataset row.',
  })
  compareEvaluations(
    @Arg('ids', () => [ID], { description: 'Evaluation ids; the first is the baseline.' }) ids: string[],
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationComparison> {
    return services.evaluations.queries.compare(principal, ids);
  }

  @FieldResolver(() => [JobAttempt], ATTEMPT_HISTORY)
  attemptHistory(@Root() job: EvaluationJob, @Ctx() { loaders }: RequestContext): Promise<JobAttempt[]> {
    return loaders.attempts.load(job.id);
  }

  @FieldResolver(() => BaseModel, {
    description: 'The registered model evaluated (alone, or under a checkpoint).',
  })
  async baseModel(@Root() job: EvaluationJob, @Ctx() { loaders }: RequestContext): Promise<BaseModel> {
    return (await loaders.baseModel.load(job.baseModelId)) as BaseModel;
  }

  @FieldResolver(() => TrainingJob, {
    nullable: true,
    description: 'The training job whose checkpoint is evaluated.',
  })
  trainingJob(@Root() job: EvaluationJob, @Ctx() ctx: RequestContext): Promise<TrainingJob | null> {
    return trainingJobOf(job, ctx);
  }

  @FieldResolver(() => Checkpoint, { nullable: true, description: 'The checkpoint evaluated.' })
  checkpoint(@Root() job: EvaluationJob, @Ctx() ctx: RequestContext): Promise<Checkpoint | null> {
    return checkpointOf(job, ctx);
  }

  @FieldResolver(() => Dataset, { description: 'The dataset evaluated.' })
  async dataset(@Root() job: EvaluationJob, @Ctx() { loaders }: RequestContext): Promise<Dataset> {
    return (await loaders.dataset.load(job.datasetId)) as Dataset;
  }

  @FieldResolver(() => Float, {
    description: 'samplesDone / samplesTotal, 0 to 1 (0 while the total is unknown).',
  })
  progress(@Root() job: EvaluationJob): number {
    return job.samplesTotal ? job.samplesDone / job.samplesTotal : 0;
  }

  @FieldResolver(() => Boolean, {
    description: 'True once cancellation was requested for a running evaluation.',
  })
  cancelRequested(@Root() job: EvaluationJob): boolean {
    return job.cancelRequestedAt !== null;
  }

  @FieldResolver(() => Boolean, canCancelField('cancelEvaluationJob'))
  canCancel(@Root() job: EvaluationJob): boolean {
    return canCancel(job.status);
  }

  @FieldResolver(() => Boolean, canResumeField('resumeEvaluationJob'))
  canResume(@Root() job: EvaluationJob): boolean {
    return canResume(job.status);
  }

  @FieldResolver(() => EvaluationScores, {
    nullable: true,
    description: 'The mean of every score over the samples; null until SUCCEEDED.',
  })
  results(@Root() job: EvaluationJob): EvaluationScores | null {
    return job.status === JobStatus.SUCCEEDED ? scoresOf(job.scores) : null;
  }

  @FieldResolver(() => EvaluationSampleConnection, {
    description: 'The scored samples: in dataset row order, or by a metric (ASC: the worst first).',
  })
  samples(
    @Root() job: EvaluationJob,
    @Arg('orderBy', () => EvaluationSampleOrder, {
      nullable: true,
      description: 'Default: dataset row order.',
    })
    orderBy: EvaluationSampleOrder | null,
    @Arg('first', () => Int, FIRST) first: number,
    @Arg('after', () => String, AFTER) after: string | null,
    @Ctx() { services }: RequestContext,
  ): Promise<EvaluationSampleConnection> {
    return services.evaluations.queries.samples(job.id, orderBy, first, after).then((page) => ({
      ...page,
      edges: page.edges.map((e) => ({
        cursor: e.cursor,
        node: { ...e.node, scores: scoresOf(e.node.scores)! },
      })),
    }));
  }

  @Mutation(() => EvaluationJob, {
    description:
      'Checks and queues an evaluation: a worker generates an answer to every prompt of the dataset and scores it against the reference. Bad input stores nothing.',
  })
  createEvaluationJob(
    @Arg('input', () => CreateEvaluationJobInput, { description: 'The evaluation.' })
    input: CreateEvaluationJobInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJob> {
    return services.evaluations.jobs.create(principal, input);
  }

  @Mutation(() => EvaluationJob, {
    description:
      'Cancels an evaluation: a QUEUED one at once; a RUNNING one stops after its current batch and keeps the samples stored so far. CONFLICT for finished ones.',
  })
  cancelEvaluationJob(
    @Arg('id', () => ID, { description: 'Evaluation id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJob> {
    return services.evaluations.jobs.cancel(principal, id);
  }

  @Mutation(() => EvaluationJob, {
    description: `Queues a ${either(RESUMABLE_STATUSES)} evaluation again: it scores the rows not scored yet, keeping the samples stored, with all its attempts (WHETSTONE_JOB_ATTEMPTS) again. CONFLICT for other statuses.`,
  })
  resumeEvaluationJob(
    @Arg('id', () => ID, { description: 'Evaluation id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<EvaluationJob> {
    return services.evaluations.jobs.resume(principal, id);
  }

  @Subscription(() => EvaluationJobProgressEvent, {
    description:
      'Live progress of one evaluation: first its current state (SNAPSHOT), then a SAMPLES event whenever samples are stored, and a STATUS event per status change; ends after a final status.',
    subscribe: ({ args, context }: SubscribeData<{ jobId: string }>) =>
      context.services.evaluations.progress.progress(context.principal, args.jobId),
  })
  evaluationJobProgress(
    @Arg('jobId', () => ID, { description: 'Evaluation id.' }) _jobId: string,
    @Root() event: EvaluationJobProgressEvent,
  ): EvaluationJobProgressEvent {
    return event;
  }
}

@Resolver(() => EvaluationScores)
export class EvaluationScoresResolver {
  @FieldResolver(() => [MetricValue], {
    description:
      'Every EvaluationMetric with its value, in the enum’s order: the same numbers as the fields above, keyed as ordering and comparison name them.',
  })
  metrics(@Root() scores: EvaluationScores): MetricValue[] {
    return metricValues(scores);
  }
}

@Resolver(() => EvaluationComparison)
export class EvaluationComparisonResolver {
  @FieldResolver(() => SampleComparisonConnection, {
    description:
      'The dataset rows scored by every compared evaluation, with each answer and its metric, ordered by the change of the metric from the first evaluation to the last (ASC, the default: the largest regressions first; ties by row).',
  })
  samples(
    @Root() comparison: EvaluationComparison,
    @Arg('metric', () => EvaluationMetric, { description: 'The metric shown and ordered by.' })
    metric: EvaluationMetric,
    @Arg('direction', () => SortDirection, { defaultValue: SortDirection.ASC, description: 'Default: ASC.' })
    direction: SortDirection,
    @Arg('first', () => Int, FIRST) first: number,
    @Arg('after', () => String, AFTER) after: string | null,
    @Ctx() { services }: RequestContext,
  ): Promise<SampleComparisonConnection> {
    return services.evaluations.queries.comparedSamples(
      comparison.evaluations.map((e) => e.id),
      { metric, direction },
      first,
      after,
    );
  }
}
