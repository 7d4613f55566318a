/**
 * The job state machine, one for every kind of job (training, evaluation, generation). Every status change goes through
 * `transitionJob`, one conditional UPDATE, so two processes racing (a cancel and a worker finishing, two workers
 * claiming) cannot both win.
 *
 *   QUEUED ──> RUNNING ──> SUCCEEDED | FAILED | CANCELLED
 *     │          │  ↺ (a worker takes over a job whose worker died)
 *     │          └──> QUEUED (the worker shut down, or the job's process died and is retried; another run
 *     │                       continues from the last checkpoint, or from the samples stored)
 *     └──> CANCELLED
 *   FAILED | CANCELLED ──> QUEUED (resumed)
 */
import type { EntityManager } from 'typeorm';
import { EvaluationJobEntity, GenerationEntity, JobStatus as S, TrainingJobEntity } from './entities';
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

/** Each kind of job: its table and entity. */
const KINDS = {
  training: { table: 'training_jobs', entity: TrainingJobEntity },
  evaluation: { table: 'evaluation_jobs', entity: EvaluationJobEntity },
  generation: { table: 'generations', entity: GenerationEntity },
} as const;

export type JobKind = keyof typeof KINDS;

export type JobEntity<K extends JobKind> = InstanceType<(typeof KINDS)[K]['entity']>;

export function jobTable(kind: JobKind): string {
  return KINDS[kind].table;
}

/** Column values set together with the status (snake_case column names); training-only columns say so. */
export type TransitionPatch = Partial<{
  error: string | null;
  worker_id: string | null;
  /** 'first': set to now() only if still empty. */
  started_at: 'now' | 'first' | null;
  finished_at: 'now' | null;
  cancel_requested_at: 'now' | null;
  attempts: 'increment';
  /** Runs whose process died; a resumed job starts again from 0. */
  crashes: 'increment' | 0;
  /** Training. */
  resume_checkpoint_id: string | null;
  /** Training. */
  output_dir: string;
  /** Training. */
  progress: number;
}>;

/** What FAILED | CANCELLED -> QUEUED (a user resuming a job) resets: the job starts over with all its attempts. */
export const RESUME_PATCH: TransitionPatch = {
  crashes: 0,
  cancel_requested_at: null,
  error: null,
  finished_at: null,
  worker_id: null,
};

export interface Transition<K extends JobKind = 'training'> {
  job: JobEntity<K>;
  previousStatus: S;
}

/**
 * Moves the job to `to` if its current status is one of `from` (each must be allowed to reach `to`) and returns
 * the updated row with the status it left, or null when the job is not in one of `from`. The patched columns are
 * set with it ('now', 'first': now unless already set, 'increment', or a value).
 */
export async function transitionJob<K extends JobKind = 'training'>(
  db: EntityManager,
  id: string,
  from: readonly S[],
  to: S,
  patch: TransitionPatch = {},
  /** Only if this worker holds the job (a worker finishing a job must not overwrite another's takeover). */
  onlyWorker?: string,
  kind: K = 'training' as K,
): Promise<Transition<K> | null> {
  for (const f of from) {
    if (!ALLOWED[f].includes(to)) throw new Error(`${kind} job status ${f} cannot move to ${to}`);
  }
  const table = KINDS[kind].table;
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
  const rows = await queryRows<{ previous_status: S }>(
    db,
    `WITH prev AS (SELECT id, status, worker_id FROM ${table} WHERE id = $1 FOR UPDATE)
     UPDATE ${table} t SET ${sets.join(', ')}
     FROM prev WHERE t.id = prev.id AND prev.status = ANY($2::text[])${guard}
     RETURNING prev.status AS previous_status`,
    params,
  );
  if (!rows.length) return null;
  const job = (await db.getRepository(KINDS[kind].entity).findOneByOrFail({ id })) as JobEntity<K>;
  return { job, previousStatus: rows[0].previous_status };
}
