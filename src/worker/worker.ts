/**
 * A worker process: consumes every queue with its handler, one job at a time. Several workers on several
 * machines share one Redis and one PostgreSQL. `close()` stops taking jobs, asks running training to checkpoint
 * and stop (the job returns to the queue and another worker continues it), then closes connections.
 */
import os from 'node:os';
import Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import { createDataSource } from '../db/data-source';
import { cancelChannel } from '../queue/events';
import { EventPublisher } from '../queue/publisher';
import { createQueue, QUEUE_NAMES, type QueueName } from '../queue/queues';
import { ChannelSubscriber } from '../queue/subscriber';
import { evaluationJobs } from './evaluation/job';
import { generationJobs } from './generation/job';
import { checkHandlers, type HandlerRegistry } from './handlers';
import { JobRunner } from './job-runner';
import { trainingJobs } from './training/job';

export interface Worker {
  id: string;
  db: DataSource;
  close(): Promise<void>;
}

export async function startWorker(config: Config, log = defaultLog): Promise<Worker> {
  const id = `${os.hostname()}:${process.pid}`;
  const db = createDataSource(config, 4);
  await db.initialize();
  const redis = new Redis(config.redisUrl);
  redis.on('error', (err: Error) => log(`redis: ${err.message}`));
  const publisher = new EventPublisher(redis, config.redisPrefix);
  const subscriber = new ChannelSubscriber(new Redis(config.redisUrl), log);

  const cancelCallbacks = new Map<string, () => void>();
  await subscriber.listen(cancelChannel(config.redisPrefix), (message) => {
    const jobId = (message as { jobId?: string }).jobId;
    if (jobId) cancelCallbacks.get(jobId)?.();
  });

  const runnerDeps = {
    db,
    workerId: id,
    maxAttempts: config.jobAttempts,
    onCancel: (jobId: string, cb: () => void) => {
      cancelCallbacks.set(jobId, cb);
      return () => cancelCallbacks.delete(jobId);
    },
    log,
  };
  const runners = {
    training: new JobRunner(trainingJobs({ db, publisher, log, ...config }), runnerDeps),
    evaluation: new JobRunner(evaluationJobs({ db, publisher }), runnerDeps),
    generation: new JobRunner(generationJobs({ db, publisher }), runnerDeps),
  };
  const handlers: Partial<HandlerRegistry> = {
    training: runners.training.handle,
    evaluation: runners.evaluation.handle,
    generation: runners.generation.handle,
  };
  checkHandlers(handlers);

  const queues = QUEUE_NAMES.map((name) => createQueue(name, config));
  queues.forEach((queue, i) => {
    const name: QueueName = QUEUE_NAMES[i];
    void queue.process(1, handlers[name] as never);
    queue.on('error', (err) => log(`queue ${name}: ${err.message}`));
    queue.on('failed', (job, err) => void giveUp(runners[name], job, err, log));
  });
  log(`worker ${id} consuming ${QUEUE_NAMES.join(', ')}`);

  let closing: Promise<void> | undefined;
  return {
    id,
    db,
    close: () =>
      (closing ??= (async () => {
        await Promise.all(queues.map((q) => q.pause(true, true)));
        const runs = Object.values(runners).flatMap((r) => r.activeRuns());
        runs.forEach((r) => r.stop('shutdown'));
        await Promise.all(runs.map((r) => r.finished));
        await Promise.all(queues.map((q) => q.close()));
        await subscriber.close();
        await redis.quit().catch(() => redis.disconnect());
        await db.destroy();
      })()),
  };
}

/**
 * Bull gives a job up for good (retries spent, or stalled too often: its workers keep dying); a job row still
 * RUNNING would then never move again, so it is marked FAILED.
 */
async function giveUp(
  runner: { giveUp(jobId: string, reason: string): Promise<void> },
  job: { data: { jobId: string }; attemptsMade: number; opts: { attempts?: number } },
  err: Error,
  log: (m: string, e?: unknown) => void,
): Promise<void> {
  const final = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled more than/.test(err.message);
  if (!final) return;
  await runner.giveUp(job.data.jobId, err.message).catch((e: unknown) => {
    log(`job ${job.data.jobId}: could not record the queue giving up`, e);
  });
}

function defaultLog(message: string, err?: unknown): void {
  if (err) console.error(`[worker] ${message}`, err);
  else console.log(`[worker] ${message}`);
}
