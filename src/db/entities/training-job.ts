import { Column, Entity } from 'typeorm';
import { ParameterScale, TrainingMethod } from './enums';
import { WorkerJobEntity } from './job';

/** A training job and its latest progress; the step-by-step series is in `training_step_metrics`. */
@Entity({ name: 'training_jobs' })
export class TrainingJobEntity extends WorkerJobEntity {
  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'dataset_id', type: 'uuid' })
  datasetId: string;

  @Column({ type: 'text' })
  method: TrainingMethod;

  @Column({ name: 'parameter_scale', type: 'text' })
  parameterScale: ParameterScale;

  /** Every hyperparameter with defaults filled in (src/training/hyperparameters), stored only here. */
  @Column({ type: 'jsonb' })
  hyperparameters: Record<string, unknown>;

  /** RL: the finished REWARD_MODEL job (same project) whose final checkpoint scores the completions. */
  @Column({ name: 'reward_model_job_id', type: 'uuid', nullable: true })
  rewardModelJobId: string | null;

  /** 0..1: step / totalSteps. */
  @Column({ type: 'double precision', default: 0 })
  progress: number;

  @Column({ type: 'integer', nullable: true })
  epoch: number | null;

  @Column({ type: 'integer', default: 0 })
  step: number;

  @Column({ name: 'total_steps', type: 'integer', nullable: true })
  totalSteps: number | null;

  @Column({ name: 'latest_loss', type: 'double precision', nullable: true })
  latestLoss: number | null;

  /** The checkpoint the next run continues from: the latest one saved, or the one `resumeTrainingJob` chose. */
  @Column({ name: 'resume_checkpoint_id', type: 'uuid', nullable: true })
  resumeCheckpointId: string | null;

  @Column({ name: 'output_dir', type: 'text', nullable: true })
  outputDir: string | null;
}
