/** The one writer of `job_attempts`: each run of a job of any kind, opened at its claim and ended with its outcome. */
import { AttemptOutcome } from '../entities';
import type { JobKind } from '../job-status';
import type { Queryable } from '../query';

/**
 * Records run `number` of a job starting (in the claim's transaction); an attempt left open was a worker that
 * died, whose job `workerId` takes over.
 */
export async function startAttempt(
  db: Queryable,
  kind: JobKind,
  jobId: string,
  number: number,
  workerId: string,
): Promise<void> {
  await db.query(
    `UPDATE job_attempts SET ended_at = now(), outcome = $3,
            cause = 'worker ' || worker_id || ' stopped renewing its queue lock (it died, or lost Redis); '
                    || $2 || ' took the job over'
      WHERE job_id = $1 AND ended_at IS NULL`,
    [jobId, workerId, AttemptOutcome.WORKER_LOST],
  );
  await db.query(`INSERT INTO job_attempts (${kind}_job_id, number, worker_id) VALUES ($1, $2, $3)`, [
    jobId,
    number,
    workerId,
  ]);
}

/** Ends the job's open attempt (`number`: that one only). */
export async function endAttempt(
  db: Queryable,
  jobId: string,
  end: { outcome: AttemptOutcome; cause: string | null; number?: number },
): Promise<void> {
  await db.query(
    `UPDATE job_attempts SET ended_at = now(), outcome = $2, cause = $3
      WHERE job_id = $1 AND ended_at IS NULL AND ($4::int IS NULL OR number = $4)`,
    [jobId, end.outcome, end.cause, end.number ?? null],
  );
}
