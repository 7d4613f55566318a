/**
 * The evaluation job state machine: the training jobs' (src/db/job-status.ts) without resumption.
 *
 *   QUEUED ──> RUNNING ──> SUCCEEDED | FAILED | CANCELLED
 *     │          │  ↺ (a worker takes over a job whose worker died)
 *     │          └──> QUEUED (the worker shut down; the job goes back to the queue, keeping its scored samples)
 *     └──> CANCELLED
 */
import type { EntityManager } from 'typeorm';
import { updateStatus } from '../job-status';
import { EvaluationJobEntity, EvaluationJobStatus as S } from './evaluation-job';

const ALLOWED: Record<S, readonly S[]> = {
  [S.QUEUED]: [S.RUNNING, S.CANCELLED],
  [S.RUNNING]: [S.RUNNING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLED],
  [S.SUCCEEDED]: [],
  [S.FAILED]: [],
  [S.CANCELLED]: [],
};

/** Columns set with the status (see updateStatus). */
export type EvaluationPatch = Partial<{
  started_at: 'first';
  finished_at: 'now';
  attempts: 'increment';
  error: string | null;
  worker_id: string | null;
}>;

export interface EvaluationTransition {
  job: EvaluationJobEntity;
  previousStatus: S;
}

/** Moves the job to `to` if its status is one of `from` (and `onlyWorker`, when given, holds it). */
export async function transitionEvaluation(
  db: EntityManager,
  id: string,
  from: readonly S[],
  to: S,
  patch: EvaluationPatch = {},
  onlyWorker?: string,
): Promise<EvaluationTransition | null> {
  const previousStatus = await updateStatus(db, 'evaluation_jobs', ALLOWED, id, from, to, patch, onlyWorker);
  if (previousStatus === null) return null;
  const job = await db.getRepository(EvaluationJobEntity).findOneByOrFail({ id });
  return { job, previousStatus };
}
