/** The one writer of `checkpoints`: what a training run saved, each the point a later run may continue from. */
import type { DataSource } from 'typeorm';
import { queryRows } from '../query';
import { setResumeCheckpoint } from './jobs';

export interface StoredCheckpoint {
  step: number;
  path: string;
  metrics: unknown;
}

/** Stores the checkpoint and makes it the one the job's next run continues from. */
export async function recordCheckpoint(db: DataSource, jobId: string, c: StoredCheckpoint): Promise<void> {
  await db.transaction(async (m) => {
    const rows = await queryRows<{ id: string }>(
      m,
      `INSERT INTO checkpoints (job_id, step, path, metrics) VALUES ($1, $2, $3, $4)
       ON CONFLICT (job_id, step) DO UPDATE SET path = EXCLUDED.path, metrics = EXCLUDED.metrics,
              created_at = now()
       RETURNING id`,
      [jobId, c.step, c.path, JSON.stringify(c.metrics)],
    );
    await setResumeCheckpoint(m, jobId, rows[0].id);
  });
}
