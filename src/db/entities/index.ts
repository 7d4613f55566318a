import { ApiKeyEntity } from './api-key';
import { BaseModelEntity } from './base-model';
import { CheckpointEntity } from './checkpoint';
import { DatasetEntity, DatasetRowEntity } from './dataset';
import { EvaluationJobEntity } from './evaluation-job';
import { EvaluationSampleEntity } from './evaluation-sample';
import { GenerationEntity } from './generation';
import { JobAttemptEntity } from './job-attempt';
import { ProjectEntity } from './project';
import { StepMetricEntity } from './step-metric';
import { TrainingJobEntity } from './training-job';

export * from './enums';
export * from './evaluation-job';
export * from './evaluation-scores';
export { EvaluatedModelKind, GeneratingJobEntity, WorkerJobEntity } from './job';
export { ProjectOwnedEntity } from './project-owned';
export { GenerationFinishReason } from './generation';
export {
  ApiKeyEntity,
  BaseModelEntity,
  CheckpointEntity,
  DatasetEntity,
  DatasetRowEntity,
  EvaluationSampleEntity,
  GenerationEntity,
  JobAttemptEntity,
  ProjectEntity,
  StepMetricEntity,
  TrainingJobEntity,
};

export const ENTITIES = [
  ProjectEntity,
  ApiKeyEntity,
  BaseModelEntity,
  DatasetEntity,
  DatasetRowEntity,
  TrainingJobEntity,
  StepMetricEntity,
  CheckpointEntity,
  EvaluationJobEntity,
  EvaluationSampleEntity,
  GenerationEntity,
  JobAttemptEntity,
];
