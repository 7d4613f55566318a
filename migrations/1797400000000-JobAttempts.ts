import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every run of a job's process, training, evaluation or generation (`job_attempts`): worker, start, end, outcome and cause,
 * so a job shows why each attempt ended. `crashes` counts the runs of a job whose process died since it was
 * last queued by a user; a worker retries such a job up to WHETSTONE_JOB_ATTEMPTS runs.
 */
export class JobAttempts1797400000000 implements MigrationInterface {
  name = 'JobAttempts1797400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_attempts (
        training_job_id uuid REFERENCES training_jobs (id) ON DELETE CASCADE,
        evaluation_job_id uuid REFERENCES evaluation_jobs (id) ON DELETE CASCADE,
        generation_job_id uuid REFERENCES generations (id) ON DELETE CASCADE,
        job_id uuid GENERATED ALWAYS AS (coalesce(training_job_id, evaluation_job_id, generation_job_id)) STORED
          NOT NULL,
        number integer NOT NULL CHECK (number > 0),
        worker_id text NOT NULL,
        started_at timestamptz(3) NOT NULL DEFAULT now(),
        ended_at timestamptz(3),
        outcome text CHECK (outcome IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'PREEMPTED', 'CRASHED',
                                        'OUT_OF_MEMORY', 'WORKER_LOST')),
        cause text,
        PRIMARY KEY (job_id, number),
        CONSTRAINT job_attempts_one_job CHECK (num_nonnulls(training_job_id, evaluation_job_id, generation_job_id) = 1),
        CONSTRAINT job_attempts_ended_with_outcome CHECK ((ended_at IS NULL) = (outcome IS NULL))
      )`);
    for (const table of ['training_jobs', 'evaluation_jobs', 'generations']) {
      await q.query(
        `ALTER TABLE ${table} ADD COLUMN crashes integer NOT NULL DEFAULT 0 CHECK (crashes >= 0)`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['training_jobs', 'evaluation_jobs', 'generations']) {
      await q.query(`ALTER TABLE ${table} DROP COLUMN crashes`);
    }
    await q.query(`DROP TABLE job_attempts`);
  }
}
