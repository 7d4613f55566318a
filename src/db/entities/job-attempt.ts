import { Column, Entity, PrimaryColumn } from 'typeorm';
import { AttemptOutcome } from './enums';

/** One run of a job's process (training or evaluation): who ran it, when, and how and why it ended. */
@Entity({ name: 'job_attempts' })
export class JobAttemptEntity {
  /** The training or evaluation job (the row has exactly one of the two foreign keys; this is either). */
  @PrimaryColumn({ name: 'job_id', type: 'uuid', insert: false, update: false })
  jobId: string;

  /** 1, 2, ...: the job's `attempts` when this run claimed it. */
  @PrimaryColumn({ type: 'integer' })
  number: number;

  @Column({ name: 'worker_id', type: 'text' })
  workerId: string;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3 })
  startedAt: Date;

  /** Null while the attempt runs. */
  @Column({ name: 'ended_at', type: 'timestamptz', precision: 3, nullable: true })
  endedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  outcome: AttemptOutcome | null;

  /** Why it ended, in words (the error, or how the process died with the memory evidence). */
  @Column({ type: 'text', nullable: true })
  cause: string | null;
}
