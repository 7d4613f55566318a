import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ParameterScale, JobStatus, TrainingMethod } from '../../db/entities';
import '../common/enums';
import { TrainingHyperparameters } from './hyperparameter-types';

@ObjectType('TrainingJob', { description: 'A training job with its progress, metrics and checkpoints.' })
export class TrainingJob {
  @Field(() => ID, { description: 'Job id.' })
  id: string;

  @Field({ description: 'A label for people.' })
  name: string;

  @Field(() => TrainingMethod, { description: 'How the job trains.' })
  method: TrainingMethod;

  @Field(() => ParameterScale, { description: 'Which parameters the job trains.' })
  parameterScale: ParameterScale;

  @Field(() => JobStatus, { description: 'Current status.' })
  status: JobStatus;

  @Field(() => Float, { description: 'Fraction of the optimizer steps done, 0 to 1.' })
  progress: number;

  @Field(() => Int, { nullable: true, description: 'Current epoch (1-based); null before the first step.' })
  epoch: number | null;

  @Field(() => Int, { description: 'Optimizer steps done.' })
  step: number;

  @Field(() => Int, {
    nullable: true,
    description: 'Optimizer steps in the whole run; null before the first step.',
  })
  totalSteps: number | null;

  @Field(() => Float, { nullable: true, description: 'Loss of the latest recorded step.' })
  latestLoss: number | null;

  @Field(() => String, { nullable: true, description: 'Why the job failed; null unless FAILED.' })
  error: string | null;

  @Field(() => Int, { description: 'How many times a worker started or took over the job.' })
  attempts: number;

  @Field(() => String, { nullable: true, description: 'Folder the worker writes checkpoints to.' })
  outputDir: string | null;

  @Field({ description: 'When the job was created.' })
  createdAt: Date;

  @Field({ description: 'When the job row last changed.' })
  updatedAt: Date;

  @Field(() => Date, { nullable: true, description: 'When a worker first started the job.' })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the job reached its final status.' })
  finishedAt: Date | null;

  @Field(() => ID, {
    nullable: true,
    description: 'RL: the REWARD_MODEL job whose final checkpoint scores the completions; null otherwise.',
  })
  rewardModelJobId: string | null;

  /** Foreign keys, resolved by field resolvers. */
  baseModelId: string;
  datasetId: string;
  cancelRequestedAt: Date | null;
  hyperparameters: Record<string, unknown>;
}

@ObjectType('StepMetric', { description: 'Metrics of one optimizer step, as the engine measured them.' })
export class StepMetric {
  @Field(() => Int, { description: 'Optimizer step (1-based).' })
  step: number;

  @Field(() => Int, { description: 'Epoch of the step (1-based).' })
  epoch: number;

  @Field(() => Int, { description: 'Optimizer steps in the whole run.' })
  totalSteps: number;

  @Field(() => Float, { description: 'Training loss, measured before the step’s update.' })
  loss: number;

  @Field(() => Float, { description: 'Learning rate of the step.' })
  learningRate: number;

  @Field(() => Float, { description: 'Global gradient norm before clipping.' })
  gradNorm: number;

  @Field(() => Float, { description: 'Training throughput in tokens per second.' })
  tokensPerSecond: number;

  @Field(() => Float, { description: 'Seconds since the run (or its latest resumption) started.' })
  elapsedSeconds: number;

  @Field(() => Float, { description: 'Estimated seconds to the end of the run.' })
  etaSeconds: number;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Method-specific metrics (name -> value).' })
  extra: Record<string, number> | null;

  @Field({ description: 'When the step was recorded.' })
  recordedAt: Date;
}

@ObjectType('Checkpoint', { description: 'A checkpoint folder a worker saved.' })
export class Checkpoint {
  @Field(() => ID, { description: 'Checkpoint id (for resumeTrainingJob).' })
  id: string;

  @Field(() => Int, { description: 'Optimizer steps done when it was saved.' })
  step: number;

  @Field({
    description: 'Folder on the worker’s disk (PEFT adapter or Hugging Face folder, plus trainer state).',
  })
  path: string;

  @Field(() => GraphQLJSONObject, { description: 'Metrics at that step (name -> value).' })
  metrics: Record<string, number>;

  @Field({ description: 'When it was saved.' })
  createdAt: Date;
}

@ObjectType({ description: 'One job in a page of jobs.' })
export class TrainingJobEdge {
  @Field({ description: 'Opaque cursor of this job, for `after`.' })
  cursor: string;

  @Field(() => TrainingJob, { description: 'The job.' })
  node: TrainingJob;
}

@ObjectType({ description: 'Where a page of results stands.' })
export class PageInfo {
  @Field(() => String, { nullable: true, description: 'Cursor of the last edge; null for an empty page.' })
  endCursor: string | null;

  @Field({ description: 'True when more results follow this page.' })
  hasNextPage: boolean;
}

@ObjectType({ description: 'A page of training jobs, newest first.' })
export class TrainingJobConnection {
  @Field(() => [TrainingJobEdge], { description: 'The jobs of this page.' })
  edges: TrainingJobEdge[];

  @Field(() => PageInfo, { description: 'Whether more pages follow.' })
  pageInfo: PageInfo;
}

@InputType({ description: 'Which jobs to list; every given condition must hold.' })
export class TrainingJobFilter {
  @Field(() => [JobStatus], { nullable: true, description: 'Any of these statuses.' })
  status?: JobStatus[] | null;

  @Field(() => [TrainingMethod], { nullable: true, description: 'Any of these methods.' })
  method?: TrainingMethod[] | null;

  @Field(() => ID, { nullable: true, description: 'Jobs of this base model.' })
  baseModelId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Jobs on this dataset.' })
  datasetId?: string | null;
}

@InputType({ description: 'A new training job.' })
export class CreateTrainingJobInput {
  @Field({ description: 'A label for people, 1 to 200 characters.' })
  name: string;

  @Field(() => ID, { description: 'A registered model of the project.' })
  baseModelId: string;

  @Field(() => ID, {
    description:
      'A dataset of the project whose kind fits the method (SFT: SFT; REWARD_MODEL, DPO: PREFERENCE; RL: PROMPT_ONLY).',
  })
  datasetId: string;

  @Field(() => TrainingMethod, { description: 'How to train.' })
  method: TrainingMethod;

  @Field(() => ParameterScale, { description: 'Which parameters to train.' })
  parameterScale: ParameterScale;

  @Field(() => TrainingHyperparameters, {
    nullable: true,
    description: 'Hyperparameters; omitted fields take their documented defaults.',
  })
  hyperparameters?: TrainingHyperparameters | null;

  @Field(() => ID, {
    nullable: true,
    description:
      'RL only, and required there: a SUCCEEDED REWARD_MODEL job of the same project; its final checkpoint scores the sampled completions.',
  })
  rewardModelJobId?: string | null;
}

export enum ProgressEventKind {
  SNAPSHOT = 'SNAPSHOT',
  STEP = 'STEP',
  STATUS = 'STATUS',
}

registerEnumType(ProgressEventKind, {
  name: 'ProgressEventKind',
  description: 'What a progress event reports.',
  valuesConfig: {
    SNAPSHOT: { description: 'The job’s state when the subscription started (always the first event).' },
    STEP: { description: 'One optimizer step finished.' },
    STATUS: { description: 'The job’s status changed.' },
  },
});

@ObjectType({ description: 'Live progress of one job: a snapshot, then every step and status change.' })
export class TrainingJobProgressEvent {
  @Field(() => ProgressEventKind, { description: 'What the event reports.' })
  kind: ProgressEventKind;

  @Field(() => ID, { description: 'The job.' })
  jobId: string;

  @Field(() => JobStatus, { description: 'The job’s status at this event.' })
  status: JobStatus;

  @Field(() => Int, { nullable: true, description: 'Epoch (1-based); null before the first step.' })
  epoch: number | null;

  @Field(() => Int, { description: 'Optimizer steps done.' })
  step: number;

  @Field(() => Int, {
    nullable: true,
    description: 'Optimizer steps in the run; null before the first step.',
  })
  totalSteps: number | null;

  @Field(() => Float, { description: 'Fraction of the steps done, 0 to 1.' })
  progress: number;

  @Field(() => Float, { nullable: true, description: 'Loss of the step (latest loss for snapshots).' })
  loss: number | null;

  @Field(() => Float, { nullable: true, description: 'Learning rate of the step.' })
  learningRate: number | null;

  @Field(() => Float, { nullable: true, description: 'Gradient norm before clipping.' })
  gradNorm: number | null;

  @Field(() => Float, { nullable: true, description: 'Throughput in tokens per second.' })
  tokensPerSecond: number | null;

  @Field(() => Float, {
    nullable: true,
    description: 'Seconds since the run (or its latest resumption) started.',
  })
  elapsedSeconds: number | null;

  @Field(() => Float, { nullable: true, description: 'Estimated seconds to the end of the run.' })
  etaSeconds: number | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Method-specific metrics of the step.' })
  extra: Record<string, number> | null;

  @Field(() => String, { nullable: true, description: 'Error message when the status is FAILED.' })
  error: string | null;

  @Field({ description: 'When the event was published.' })
  at: Date;
}

@ObjectType({ description: 'A job of the caller’s project changed status.' })
export class TrainingJobStatusEvent {
  @Field(() => ID, { description: 'The job.' })
  jobId: string;

  @Field({ description: 'The job’s name.' })
  name: string;

  @Field(() => JobStatus, { description: 'The new status.' })
  status: JobStatus;

  @Field(() => JobStatus, { nullable: true, description: 'The status before; null for a new job.' })
  previousStatus: JobStatus | null;

  @Field(() => String, { nullable: true, description: 'Error message when the status is FAILED.' })
  error: string | null;

  @Field({ description: 'When the change happened.' })
  at: Date;
}
