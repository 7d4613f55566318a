/**
 * Cancelling a queued or running job, the same for training and evaluation jobs and generations: a QUEUED job is cancelled at
 * once; a RUNNING one gets `cancel_requested_at` and a cancel message to whichever worker runs it (the worker stops
 * between steps or batches, keeps what it stored, and marks it CANCELLED). Asking again is harmless.
 */
import type { DataSource } from 'typeorm';
import { JobStatus as S } from '../../db/entities';
import { CANCELLABLE_STATUSES, type JobEntity, type JobKind } from '../../db/job-status';
import { requestJobCancel, transitionJob, type Transition } from '../../db/store/jobs';
import { conflict } from '../errors';

export interface CancelSteps<K extends JobKind> {
  db: DataSource;
  kind: K;
  /** What the job is called in messages: 'job' or 'evaluation'. */
  noun: string;
  /** Re-reads the job as the caller may see it. */
  get(): Promise<JobEntity<K>>;
  /** Announces a QUEUED job moved to CANCELLED. */
  announce(moved: Transition<K>): Promise<void>;
  /** Tells the workers to stop the job. */
  requestCancel(): Promise<void>;
}

export async function cancelJob<K extends JobKind>(id: string, steps: CancelSteps<K>): Promise<JobEntity<K>> {
  if ((await steps.get()).status === S.QUEUED) {
    const moved = await transitionJob(
      steps.db.manager,
      id,
      [S.QUEUED],
      S.CANCELLED,
      { finished_at: 'now' },
      undefined,
      steps.kind,
    );
    if (moved) {
      await steps.announce(moved);
      return moved.job;
    }
  }
  const requested = await requestJobCancel(steps.db, steps.kind, id);
  const current = await steps.get();
  if (requested) {
    await steps.requestCancel();
    return current;
  }
  if (current.status === S.CANCELLED) return current;
  throw conflict(
    `${steps.noun} ${id} is ${current.status}; only ${CANCELLABLE_STATUSES.join(' or ')} ${steps.noun}s can be cancelled`,
  );
}
