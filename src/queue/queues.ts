/**
 * The Bull queues, one typed payload each. A second queue (e.g. `evaluation`) is one more entry in
 * `QueuePayloads` and `QUEUE_NAMES`; the worker refuses to start while a queue has no handler.
 */
import Bull from 'bull';
import type { Config } from '../config';

/** Every queue's entry: the job's row (in its kind's table, src/db/job-status.ts) and the job's project. */
export interface JobQueuePayload {
  jobId: string;
  projectId: string;
}

export interface QueuePayloads {
  training: JobQueuePayload;
  evaluation: JobQueuePayload;
  generation: JobQueuePayload;
}

export type QueueName = keyof QueuePayloads;

/**
 * A worker takes one job of each queue at a time, so a generation never waits behind a long training job or
 * evaluation on the same worker.
 */
export const QUEUE_NAMES: readonly QueueName[] = ['training', 'evaluation', 'generation'];

export type TypedQueue<N extends QueueName> = Bull.Queue<QueuePayloads[N]>;

/**
 * Retries cover infrastructure failures and worker shutdown (the handler throws); failures of the job itself are
 * recorded in PostgreSQL and end the Bull job normally.
 */
const JOB_OPTIONS: Bull.JobOptions = {
  attempts: 20,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: 1000,
};

export function createQueue<N extends QueueName>(
  name: N,
  config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'queueLockMs' | 'queueStalledIntervalMs'>,
): TypedQueue<N> {
  return new Bull<QueuePayloads[N]>(name, config.redisUrl, {
    prefix: `${config.redisPrefix}:bull`,
    defaultJobOptions: JOB_OPTIONS,
    settings: {
      lockDuration: config.queueLockMs,
      lockRenewTime: Math.floor(config.queueLockMs / 2),
      stalledInterval: config.queueStalledIntervalMs,
      // A job whose worker died is handed on this many times before Bull gives up on it.
      maxStalledCount: 5,
    },
  });
}
