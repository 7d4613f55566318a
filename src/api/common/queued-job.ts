/** Creating a job: one QUEUED row and one entry on its queue, or neither. */
import type { Queue } from 'bull';
import type { DataSource, DeepPartial } from 'typeorm';
import type { JobEntity, JobKind } from '../../db/job-status';
import { deleteJobRow, insertQueuedJobRow } from '../../db/store/jobs';
import type { JobQueuePayload } from '../../queue/queues';

export async function insertQueuedJob<K extends JobKind>(
  db: DataSource,
  kind: K,
  row: DeepPartial<JobEntity<K>>,
  queue: Queue<JobQueuePayload>,
): Promise<JobEntity<K>> {
  const job = await insertQueuedJobRow(db, kind, row);
  try {
    await queue.add({ jobId: job.id, projectId: job.projectId });
  } catch (err) {
    // A job nobody will ever take must not stay behind as QUEUED.
    await deleteJobRow(db, kind, job.id);
    throw err;
  }
  return job;
}
