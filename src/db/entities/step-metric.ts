import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One optimizer step of one job, as the engine reported it. */
@Entity({ name: 'training_step_metrics' })
export class StepMetricEntity {
  @PrimaryColumn({ name: 'job_id', type: 'uuid' })
  jobId: string;

  @PrimaryColumn({ type: 'integer' })
  step: number;

  @Column({ type: 'integer' })
  epoch: number;

  @Column({ name: 'total_steps', type: 'integer' })
  totalSteps: number;

  @Column({ type: 'double precision' })
  loss: number;

  @Column({ name: 'learning_rate', type: 'double precision' })
  learningRate: number;

  @Column({ name: 'grad_norm', type: 'double precision' })
  gradNorm: number;

  @Column({ name: 'tokens_per_second', type: 'double precision' })
  tokensPerSecond: number;

  @Column({ name: 'elapsed_seconds', type: 'double precision' })
  elapsedSeconds: number;

  @Column({ name: 'eta_seconds', type: 'double precision' })
  etaSeconds: number;

  /** Method-specific metrics (e.g. DPO margins, RL rewards). */
  @Column({ type: 'jsonb', nullable: true })
  extra: Record<string, number> | null;

  @Column({ name: 'recorded_at', type: 'timestamptz', precision: 3 })
  recordedAt: Date;
}
