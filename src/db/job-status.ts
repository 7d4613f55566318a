/**
 * The training job state machine. Every status change goes through `transitionJob`, one conditional UPDATE, so two
 * processes racing (a cancel and a worker finishing, two workers claiming) cannot both win.
 *
 *   QUEUED ──> RUNNING ──> SUCCEEDED | FAILED | CANCELLED
 *     │          │  ↺ (a worker takes over a job whose worker died)
 *     │          └──> QUEUED (the worker shut down; another one continues from the last checkpoint)
 *     └──> CANCELLED
 *   FAILED | CANCELLED ──> QUEUED (resumeTrainingJob)
 */
import type { EntityManager } from 'typeorm';
import { TrainingJobEntity, TrainingJobStatus as S } from './entities';
import { queryRows } from './query';

const ALLOWED: Record<S, readonly S[]> = {
  [S.QUEUED]: [S.RUNNING, S.CANCELLED],
  [S.RUNNING]: [S.RUNNING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLED],
  [S.SUCCEEDED]: [],
  [S.FAILED]: [S.QUEUED],
  [S.CANCELLED]: [S.QUEUED],
};

export function canTransition(from: S, to: S): boolean {
  return ALLOWED[from].includes(to);
}

/** Column values set together with the status (snake_case column names). */
export type TransitionPatch = Partial<{
  error: string | null;
  worker_id: string | null;
  /** 'first': set to now() only if still empty. */
  started_at: 'now' | 'first' | null;
  finished_at: 'now' | null;
  cancel_requested_at: 'now' | null;
  resume_checkpoint_id: string | null;
  output_dir: string;
  attempts: 'increment';
  progress: number;
}>;

export interface Transition {
  job: TrainingJobEntity;
  previousStatus: S;
}

/**
 * Moves the job to `to` if its current status is one of `from` (each must be allowed to reach `to`) and returns
 * the updated row with the status it left, or null when the job is not in one of `from`.
 */
export async function transitionJob(
  db: EntityManager,
  jobId: string,
  from: readonly S[],
  to: S,
  patch: TransitionPatch = {},
  /** Only if this worker holds the job (a worker finishing a job must not overwrite another's takeover). */
  onlyWorker?: string,
): Promise<Transition | null> {
  const previousStatus = await updateStatus(db, 'training_jobs', ALLOWED, jobId, from, to, patch, onlyWorker);
  if (previousStatus === null) return null;
  const job = await db.getRepository(TrainingJobEntity).findOneByOrFail({ id: jobId });
  return { job, previousStatus };
}

/**
 * The conditional UPDATE behind every job state machine (training and evaluation jobs): sets `status` to `to`
 * and the patched columns ('now', 'first': now unless already set, 'increment', or a value) where the row's
 * status is one of `from`; returns the status it left, or null.
 */
export async function updateStatus<T extends string>(
  db: EntityManager,
  table: string,
  allowed: Record<T, readonly T[]>,
  id: string,
  from: readonly T[],
  to: T,
  patch: Record<string, unknown>,
  onlyWorker?: string,
): Promise<T | null> {
  for (const f of from) {
    if (!allowed[f].includes(to)) throw new Error(`${table} status ${f} cannot move to ${to}`);
  }
  const params: unknown[] = [id, from, to];
  const sets = ['status = $3', 'updated_at = now()'];
  for (const [column, value] of Object.entries(patch)) {
    if (value === 'now') sets.push(`${column} = now()`);
    else if (value === 'first') sets.push(`${column} = coalesce(t.${column}, now())`);
    else if (value === 'increment') sets.push(`${column} = t.${column} + 1`);
    else {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    }
  }
  let guard = '';
  if (onlyWorker !== undefined) {
    params.push(onlyWorker);
    guard = ` AND prev.worker_id = $${params.length}`;
  }
  const rows = await queryRows<{ previous_status: T }>(
    db,
    `WITH prev AS (SELECT id, status, worker_id FROM ${table} WHERE id = $1 FOR UPDATE)
     UPDATE ${table} t SET ${sets.join(', ')}
     FROM prev WHERE t.id = prev.id AND prev.status = ANY($2::text[])${guard}
     RETURNING prev.status AS previous_status`,
    params,
  );
  return rows.length ? rows[0].previous_status : null;
}
