/** Creating a job: one QUEUED row and one entry on its queue, or neither. */
import type { Queue } from 'bull';
import type { DataSource, DeepPartial, EntityTarget } from 'typeorm';
import { JobStatus, type WorkerJobEntity } from '../../db/entities';

/** Every queue's payload names the job row and its project. */
type JobQueue = Queue<{ jobId: string; projectId: string }>;

export async function insertQueuedJob<J extends WorkerJobEntity>(
  db: DataSource,
  entity: EntityTarget<J>,
  row: DeepPartial<J>,
  queue: JobQueue,
): Promise<J> {
  const repo = db.getRepository(entity);
  const job = await repo.save({ ...row, status: JobStatus.QUEUED });
  try {
    await queue.add({ jobId: job.id, projectId: job.projectId });
  } catch (err) {
    // A job nobody will ever take must not stay behind as QUEUED.
    await repo.delete({ id: job.id } as Parameters<typeof repo.delete>[0]);
    throw err;
  }
  return job;
}
