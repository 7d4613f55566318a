import type { GraphQLResolveInfo } from 'graphql';
import {
  Arg,
  Args,
  ArgsType,
  Ctx,
  Field,
  FieldResolver,
  ID,
  Info,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import { ParameterScale, TrainingMethod } from '../../db/entities';
import { canCancel, canResume, RESUMABLE_STATUSES } from '../../db/job-status';
import { canCancelField, canResumeField, either } from '../common/job-actions';
import { ATTEMPT_HISTORY, JobAttempt } from '../common/job-attempts';
import { selectedFields } from '../common/selection';
import { FIRST } from '../common/paging';
import type { RequestContext, SubscribeData } from '../context';
import { Dataset } from '../datasets/types';
import { BaseModel } from '../models/types';
import { HyperparameterSpecification, TrainingHyperparameters } from './hyperparameter-types';
import { toApiHyperparameters } from './hyperparameters';
import { TrainingMethodInfo, trainingMethods } from './methods';
import {
  Checkpoint,
  CreateTrainingJobInput,
  StepMetric,
  TrainingJob,
  TrainingJobConnection,
  TrainingJobFilter,
  TrainingJobProgressEvent,
  TrainingJobStatusEvent,
} from './types';
import {
  MAX_SERIES_STEPS,
  PackedStepSeriesType,
  type StepRange,
  type StepSeries,
  StepSeriesType,
} from './step-series';

/** The arguments of `metrics`, `metricSeries` and `packedMetricSeries`. */
@ArgsType()
class StepRangeArgs implements StepRange {
  @Field(() => Int, {
    nullable: true,
    description: `Downsample to at most this many points (1 to ${MAX_SERIES_STEPS}).`,
  })
  maxPoints?: number | null;

  @Field(() => Int, { nullable: true, description: 'First step to include.' })
  fromStep?: number | null;

  @Field(() => Int, { nullable: true, description: 'Last step to include.' })
  toStep?: number | null;
}

@Resolver(() => TrainingJob)
export class TrainingJobResolver {
  @Query(() => TrainingJob, { description: 'One job of the project (NOT_FOUND otherwise).' })
  trainingJob(
    @Arg('id', () => ID, { description: 'Job id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<TrainingJob> {
    return services.jobs.get(principal, id);
  }

  @Query(() => TrainingJobConnection, { description: "The project's jobs, newest first, a page at a time." })
  trainingJobs(
    @Arg('filter', () => TrainingJobFilter, {
      nullable: true,
      description: 'Conditions every listed job meets.',
    })
    filter: TrainingJobFilter | null,
    @Arg('first', () => Int, FIRST) first: number,
    @Arg('after', () => String, {
      nullable: true,
      description: 'Cursor of the last job of the previous page.',
    })
    after: string | null,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<TrainingJobConnection> {
    return services.jobs.list(principal, filter ?? {}, first, after ?? null);
  }

  @Query(() => [TrainingMethodInfo], {
    description:
      'Every training method, in the TrainingMethod enum’s order, with the dataset kind it trains on and the parameter scales it trains with. Front ends offer only what createTrainingJob accepts.',
  })
  trainingMethods(): TrainingMethodInfo[] {
    return trainingMethods();
  }

  @Query(() => HyperparameterSpecification, {
    description:
      'Every hyperparameter createTrainingJob takes: type, limits, allowed values, the default for the given method, parameter scale and base model, where it applies, and the rules between fields. Front ends build their forms from it.',
  })
  hyperparameterSpecification(
    @Arg('method', () => TrainingMethod, { nullable: true, description: 'The job’s method, if chosen.' })
    method: TrainingMethod | null,
    @Arg('parameterScale', () => ParameterScale, {
      nullable: true,
      description: 'The job’s parameter scale, if chosen.',
    })
    parameterScale: ParameterScale | null,
    @Arg('baseModelId', () => ID, {
      nullable: true,
      description:
        'The base model, if chosen: its maximum sequence length bounds maxSequenceLength and its default.',
    })
    baseModelId: string | null,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<HyperparameterSpecification> {
    return services.jobs.hyperparameterSpecification(principal, {
      method: method ?? null,
      parameterScale: parameterScale ?? null,
      baseModelId: baseModelId ?? null,
    });
  }

  @FieldResolver(() => [JobAttempt], ATTEMPT_HISTORY)
  attemptHistory(@Root() job: TrainingJob, @Ctx() { loaders }: RequestContext): Promise<JobAttempt[]> {
    return loaders.attempts.load(job.id);
  }

  @FieldResolver(() => BaseModel, { description: 'The model the job trains.' })
  async baseModel(@Root() job: TrainingJob, @Ctx() { loaders }: RequestContext): Promise<BaseModel> {
    return (await loaders.baseModel.load(job.baseModelId)) as BaseModel;
  }

  @FieldResolver(() => Dataset, { description: 'The dataset the job trains on.' })
  async dataset(@Root() job: TrainingJob, @Ctx() { loaders }: RequestContext): Promise<Dataset> {
    return (await loaders.dataset.load(job.datasetId)) as Dataset;
  }

  @FieldResolver(() => TrainingHyperparameters, { description: 'The hyperparameters the job runs with.' })
  hyperparameters(@Root() job: TrainingJob): TrainingHyperparameters {
    return toApiHyperparameters(job.hyperparameters, job.method, job.parameterScale as ParameterScale);
  }

  @FieldResolver(() => Boolean, { description: 'True once cancellation was requested for a running job.' })
  cancelRequested(@Root() job: TrainingJob): boolean {
    return job.cancelRequestedAt !== null;
  }

  @FieldResolver(() => Boolean, canCancelField('cancelTrainingJob'))
  canCancel(@Root() job: TrainingJob): boolean {
    return canCancel(job.status);
  }

  @FieldResolver(() => Boolean, canResumeField('resumeTrainingJob'))
  canResume(@Root() job: TrainingJob): boolean {
    return canResume(job.status);
  }

  @FieldResolver(() => [StepMetric], {
    description: `The step series in step order, at most ${MAX_SERIES_STEPS} steps per answer (continue with fromStep after the last step returned). With maxPoints, a longer series is cut into maxPoints buckets of equal step ranges, from its first to its last step, and the last step stored in each is returned (the final step is always included; with gaps in the steps, a bucket without steps adds none).`,
  })
  metrics(
    @Root() job: TrainingJob,
    @Args(() => StepRangeArgs) range: StepRangeArgs,
    @Ctx() { services }: RequestContext,
  ): Promise<StepMetric[]> {
    return services.jobs.metrics(job.id, range);
  }

  @FieldResolver(() => StepSeriesType, {
    description:
      'The steps `metrics` selects, as one list per metric (see StepSeries): the compact form for charts (100,000 steps in one response, continued from fromStep like `metrics`).',
  })
  metricSeries(
    @Root() job: TrainingJob,
    @Args(() => StepRangeArgs) range: StepRangeArgs,
    @Ctx() { services }: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<StepSeries> {
    return services.jobs.metricSeries(job.id, range, selectedFields(info));
  }

  @FieldResolver(() => PackedStepSeriesType, {
    description:
      'The lists of `metricSeries`, each packed into one base64 string (see PackedStepSeries): the same values in about half the bytes, without number text to write or parse.',
  })
  packedMetricSeries(
    @Root() job: TrainingJob,
    @Args(() => StepRangeArgs) range: StepRangeArgs,
    @Ctx() { services }: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<StepSeries> {
    return services.jobs.metricSeries(job.id, range, selectedFields(info));
  }

  @FieldResolver(() => [Checkpoint], { description: 'Saved checkpoints, by step.' })
  checkpoints(@Root() job: TrainingJob, @Ctx() { services }: RequestContext): Promise<Checkpoint[]> {
    return services.jobs.checkpoints(job.id);
  }

  @Mutation(() => TrainingJob, {
    description: 'Checks and queues a training job; a worker picks it up. Bad input stores nothing.',
  })
  createTrainingJob(
    @Arg('input', () => CreateTrainingJobInput, { description: 'The job.' }) input: CreateTrainingJobInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<TrainingJob> {
    return services.jobs.create(principal, input);
  }

  @Mutation(() => TrainingJob, {
    description:
      'Cancels a job: a QUEUED one at once; a RUNNING one stops within one optimizer step, keeps its last checkpoint and becomes CANCELLED (watch the status). CONFLICT for finished jobs.',
  })
  cancelTrainingJob(
    @Arg('id', () => ID, { description: 'Job id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<TrainingJob> {
    return services.jobs.cancel(principal, id);
  }

  @Mutation(() => TrainingJob, {
    description: `Queues a ${either(RESUMABLE_STATUSES)} job again to continue from one of its checkpoints (optimizer, schedule and data order included), by default its latest, or from the start when it has none; steps after it run again, and the job gets its full WHETSTONE_JOB_ATTEMPTS again. CONFLICT for other statuses.`,
  })
  resumeTrainingJob(
    @Arg('id', () => ID, { description: 'Job id.' }) id: string,
    @Arg('checkpointId', () => ID, {
      nullable: true,
      description: 'One of the job’s checkpoints; default: its latest (none: from the start).',
    })
    checkpointId: string | null,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<TrainingJob> {
    return services.jobs.resume(principal, id, checkpointId ?? null);
  }

  @Subscription(() => TrainingJobProgressEvent, {
    description:
      'Live progress of one job: first its current state (SNAPSHOT), then one STEP event per optimizer step and one STATUS event per status change, in order; ends after a final status.',
    subscribe: ({ args, context }: SubscribeData<{ jobId: string }>) =>
      context.services.progress.jobProgress(context.principal, args.jobId),
  })
  trainingJobProgress(
    @Arg('jobId', () => ID, { description: 'Job id.' }) _jobId: string,
    @Root() event: TrainingJobProgressEvent,
  ): TrainingJobProgressEvent {
    return event;
  }

  @Subscription(() => TrainingJobStatusEvent, {
    description: 'Every status change of every job of the caller’s project.',
    subscribe: ({ context }: SubscribeData<Record<string, never>>) =>
      context.services.progress.projectStatus(context.principal),
  })
  trainingJobStatusChanged(@Root() event: TrainingJobStatusEvent): TrainingJobStatusEvent {
    return event;
  }
}
