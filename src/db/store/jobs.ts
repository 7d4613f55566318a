/**
 * The one writer of the job tables (`training_jobs`, `evaluation_jobs`, `generations`): the lifecycle every kind
 * shares (creation, status changes, cancel requests) and what each kind stores as it runs. The API and the worker
 * call these; nothing else writes a job row (test/unit/db/table-writers.test.ts).
 */
import type { DeepPartial, EntityManager } from 'typeorm';
import { JobStatus as S } from '../entities';
import { canTransition, jobEntity, jobTable, type JobEntity, type JobKind } from '../job-status';
import { queryRows, type Queryable } from '../query';
import { FLAT_SCORE_NAMES as SCORES } from '../../evaluation/metrics';

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

/** A new QUEUED row (its queue entry is the caller's: src/api/common/queued-job.ts). */
export async function insertQueuedJobRow<K extends JobKind>(
  db: Pick<EntityManager, 'getRepository'>,
  kind: K,
  row: DeepPartial<JobEntity<K>>,
): Promise<JobEntity<K>> {
  const repo = db.getRepository<JobEntity<K>>(jobEntity(kind));
  return repo.save({ ...row, status: S.QUEUED } as DeepPartial<JobEntity<K>>);
}

/** Removes a row no queue entry names (its enqueueing failed). */
export async function deleteJobRow(db: Queryable, kind: JobKind, id: string): Promise<void> {
  await db.query(`DELETE FROM ${jobTable(kind)} WHERE id = $1`, [id]);
}

/**
 * Moves the job to `to` if its current status is one of `from` (each must be allowed to reach `to`) and returns
 * the updated row with the status it left, or null when the job is not in one of `from`. The patched columns are
 * set with it ('now', 'first': now unless already set, 'increment', or a value). One conditional UPDATE, so two
 * processes racing (a cancel and a worker finishing, two workers claiming) cannot both win.
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
    if (!canTransition(f, to)) throw new Error(`${kind} job status ${f} cannot move to ${to}`);
  }
  const table = jobTable(kind);
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
  const job = (await db.getRepository(jobEntity(kind)).findOneByOrFail({ id })) as JobEntity<K>;
  return { job, previousStatus: rows[0].previous_status };
}

/** Marks a RUNNING job's cancellation requested (the first request's time stays); false if it is not RUNNING. */
export async function requestJobCancel(db: Queryable, kind: JobKind, id: string): Promise<boolean> {
  const requested = await queryRows<{ id: string }>(
    db,
    `UPDATE ${jobTable(kind)} SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
      WHERE id = $1 AND status = 'RUNNING' RETURNING id`,
    [id],
  );
  return requested.length > 0;
}

/** Whether cancellation was requested, read back by the writes a running job makes as it goes. */
type CancelRequested = { cancel_requested_at: Date | null };

/** Training: the latest step a flush stored, as the job's progress. */
export async function recordTrainingProgress(
  db: Queryable,
  jobId: string,
  last: { step: number; epoch: number; totalSteps: number; loss: number },
): Promise<CancelRequested | undefined> {
  const [row] = await queryRows<CancelRequested>(
    db,
    `UPDATE training_jobs SET step = $2::int, epoch = $3::int, total_steps = $4::int, latest_loss = $5::float8,
            progress = CASE WHEN $4::int > 0 THEN $2::int::float8 / $4::int ELSE 0 END, updated_at = now()
      WHERE id = $1 RETURNING cancel_requested_at`,
    [jobId, last.step, last.epoch, last.totalSteps, last.loss],
  );
  return row;
}

/** Training: the progress of a resumed job goes back to `step`, as its stored step metrics say it was there. */
export async function rewindTrainingProgress(db: Queryable, jobId: string, step: number): Promise<void> {
  await db.query(
    `UPDATE training_jobs SET step = $2::int,
            progress = CASE WHEN total_steps > 0 THEN $2::int::float8 / total_steps ELSE 0 END,
            latest_loss = (SELECT loss FROM training_step_metrics WHERE job_id = $1 AND step = $2::int),
            epoch = (SELECT epoch FROM training_step_metrics WHERE job_id = $1 AND step = $2::int)
      WHERE id = $1`,
    [jobId, step],
  );
}

/** Training: the checkpoint the next run continues from. */
export async function setResumeCheckpoint(db: Queryable, jobId: string, checkpointId: string): Promise<void> {
  await db.query(`UPDATE training_jobs SET resume_checkpoint_id = $2, updated_at = now() WHERE id = $1`, [
    jobId,
    checkpointId,
  ]);
}

export interface SampleCounts {
  samples_done: number;
  samples_total: number | null;
}

/** Evaluation: a run starts with `total` rows left to score and `skipped` rows that do not fit. */
export async function startEvaluationRun(
  db: Queryable,
  jobId: string,
  total: number,
  skipped: number,
): Promise<SampleCounts & { samples_total: number }> {
  const [row] = await queryRows<{ samples_done: number; samples_total: number }>(
    db,
    `UPDATE evaluation_jobs SET samples_total = samples_done + $2, skipped_rows = $3, updated_at = now()
      WHERE id = $1 RETURNING samples_done, samples_total`,
    [jobId, total, skipped],
  );
  return row;
}

/** Evaluation: `added` more samples stored (in the caller's transaction with them). */
export async function countEvaluationSamples(
  db: Queryable,
  jobId: string,
  added: number,
): Promise<SampleCounts & CancelRequested> {
  const [row] = await queryRows<SampleCounts & CancelRequested>(
    db,
    `UPDATE evaluation_jobs SET samples_done = samples_done + $2, updated_at = now() WHERE id = $1
     RETURNING samples_done, samples_total, cancel_requested_at`,
    [jobId, added],
  );
  return row;
}

/** Evaluation: the means of every score over the stored samples (in the caller's transaction). */
export async function storeEvaluationAggregates(db: Queryable, jobId: string): Promise<void> {
  await db.query(
    `UPDATE evaluation_jobs e SET ${SCORES.map((c) => `${c} = a.${c}`).join(', ')}
       FROM (SELECT ${SCORES.map((c) => `avg(${c}) AS ${c}`).join(', ')}
               FROM evaluation_samples WHERE evaluation_id = $1) a
      WHERE e.id = $1`,
    [jobId],
  );
}

/** Generation: the prompt's length in tokens, once tokenized. */
export async function setPromptTokens(db: Queryable, id: string, promptTokens: number): Promise<void> {
  await db.query(`UPDATE generations SET prompt_tokens = $2 WHERE id = $1`, [id, promptTokens]);
}

/** Generation: the tokens of one more piece of text. */
export async function appendGeneratedIds(
  db: Queryable,
  id: string,
  ids: readonly number[],
): Promise<CancelRequested> {
  const [row] = await queryRows<CancelRequested>(
    db,
    `UPDATE generations SET generated_ids = generated_ids || $2::int[], updated_at = now() WHERE id = $1
     RETURNING cancel_requested_at`,
    [id, ids],
  );
  return row;
}

/**
 * Generation: the whole text of a run. A CANCELLED end is stored only with a cancellation on record
 * (cancel_requested_at, set before the worker was asked to stop).
 */
export async function storeGenerationResult(
  db: Queryable,
  id: string,
  r: { text: string; generatedTokens: number; finishReason: string },
): Promise<void> {
  await db.query(
    `UPDATE generations SET text = $2, generated_tokens = $3, finish_reason = $4, updated_at = now()
      WHERE id = $1 AND ($4 <> 'CANCELLED' OR cancel_requested_at IS NOT NULL)`,
    [id, r.text, r.generatedTokens, r.finishReason],
  );
}
