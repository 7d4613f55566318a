import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { ParameterScale, JobStatus, TrainingMethod } from './enums';

/** A training job and its latest progress; the step-by-step series is in `training_step_metrics`. */
@Entity({ name: 'training_jobs' })
export class TrainingJobEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'base_model_id', type: 'uuid' })
  baseModelId: string;

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

  @Column({ type: 'text' })
  status: JobStatus;

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

  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** How many times a worker has started (or taken over) this job. */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** Runs whose process died since a user last queued the job (see job_attempts); retries stop at a limit. */
  @Column({ type: 'integer', default: 0 })
  crashes: number;

  @Column({ name: 'worker_id', type: 'text', nullable: true })
  workerId: string | null;

  /** The checkpoint the next run continues from: the latest one saved, or the one `resumeTrainingJob` chose. */
  @Column({ name: 'resume_checkpoint_id', type: 'uuid', nullable: true })
  resumeCheckpointId: string | null;

  @Column({ name: 'cancel_requested_at', type: 'timestamptz', precision: 3, nullable: true })
  cancelRequestedAt: Date | null;

  @Column({ name: 'output_dir', type: 'text', nullable: true })
  outputDir: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;
}
