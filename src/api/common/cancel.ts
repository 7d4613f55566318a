/**
 * Cancelling a queued or running job, the same for training and evaluation jobs and generations: a QUEUED job is cancelled at
 * once; a RUNNING one gets `cancel_requested_at` and a cancel message to whichever worker runs it (the worker stops
 * between steps or batches, keeps what it stored, and marks it CANCELLED). Asking again is harmless.
 */
import type { DataSource } from 'typeorm';
import { queryRows } from '../../db/query';
import { conflict } from '../errors';

export interface CancellableJob {
  status: string;
}

export interface CancelSteps<J extends CancellableJob> {
  db: DataSource;
  table: 'training_jobs' | 'evaluation_jobs' | 'generations';
  /** What the job is called in messages: 'job' or 'evaluation'. */
  noun: string;
  /** Re-reads the job as the caller may see it. */
  get(): Promise<J>;
  /** Moves a QUEUED job to CANCELLED and announces it; null when it was no longer QUEUED. */
  cancelQueued(): Promise<J | null>;
  /** Tells the workers to stop the job. */
  requestCancel(): Promise<void>;
}

export async function cancelJob<J extends CancellableJob>(id: string, steps: CancelSteps<J>): Promise<J> {
  if ((await steps.get()).status === 'QUEUED') {
    const cancelled = await steps.cancelQueued();
    if (cancelled) return cancelled;
  }
  const requested = await queryRows<{ id: string }>(
    steps.db,
    `UPDATE ${steps.table} SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
      WHERE id = $1 AND status = 'RUNNING' RETURNING id`,
    [id],
  );
  const current = await steps.get();
  if (requested.length > 0) {
    await steps.requestCancel();
    return current;
  }
  if (current.status === 'CANCELLED') return current;
  throw conflict(
    `${steps.noun} ${id} is ${current.status}; only QUEUED or RUNNING ${steps.noun}s can be cancelled`,
  );
}
