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
import { TrainingJobStatus } from '../db/entities';
import { transitionJob } from '../db/job-status';
import { cancelChannel, statusEvent } from '../queue/events';
import { EventPublisher } from '../queue/publisher';
import { createQueue, QUEUE_NAMES, type QueueName, type TypedQueue } from '../queue/queues';
import { ChannelSubscriber } from '../queue/subscriber';
import { EvaluationHandler } from './evaluation/handler';
import { checkHandlers, type HandlerRegistry } from './handlers';
import { TrainingHandler } from './training/handler';

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

  const training = new TrainingHandler({
    db,
    publisher,
    workerId: id,
    dataDir: config.dataDir,
    metricsBatchSize: config.metricsBatchSize,
    metricsFlushMs: config.metricsFlushMs,
    onCancel: (jobId, cb) => {
      cancelCallbacks.set(jobId, cb);
      return () => cancelCallbacks.delete(jobId);
    },
    log,
  });
  const evaluation = new EvaluationHandler({
    db,
    publisher,
    workerId: id,
    onCancel: (jobId, cb) => {
      cancelCallbacks.set(jobId, cb);
      return () => cancelCallbacks.delete(jobId);
    },
    log,
  });
  const handlers: Partial<HandlerRegistry> = { training: training.handle, evaluation: evaluation.handle };
  checkHandlers(handlers);

  const queues = QUEUE_NAMES.map((name) => createQueue(name, config));
  queues.forEach((queue, i) => {
    const name: QueueName = QUEUE_NAMES[i];
    void queue.process(1, handlers[name] as never);
    queue.on('error', (err) => log(`queue ${name}: ${err.message}`));
    queue.on('failed', (job, err) => void giveUp(db, publisher, queue, job, err, log, evaluation));
  });
  log(`worker ${id} consuming ${QUEUE_NAMES.join(', ')}`);

  let closing: Promise<void> | undefined;
  return {
    id,
    db,
    close: () =>
      (closing ??= (async () => {
        await Promise.all(queues.map((q) => q.pause(true, true)));
        const runs = [...training.activeRuns(), ...evaluation.activeRuns()];
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
  db: DataSource,
  publisher: EventPublisher,
  queue: TypedQueue<QueueName>,
  job: { data: { jobId: string }; attemptsMade: number; opts: { attempts?: number } },
  err: Error,
  log: (m: string, e?: unknown) => void,
  evaluation: EvaluationHandler,
): Promise<void> {
  const final = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled more than/.test(err.message);
  if (!final) return;
  try {
    if (queue.name === 'evaluation') return await evaluation.giveUp(job.data.jobId, err.message);
    const t = await transitionJob(
      db.manager,
      job.data.jobId,
      [TrainingJobStatus.RUNNING],
      TrainingJobStatus.FAILED,
      {
        finished_at: 'now',
        error: `given up by the queue: ${err.message}`,
      },
    );
    if (t) {
      await publisher.publishStatus(statusEvent(t));
    }
  } catch (e) {
    log(`job ${job.data.jobId}: could not record the queue giving up`, e);
  }
}

function defaultLog(message: string, err?: unknown): void {
  if (err) console.error(`[worker] ${message}`, err);
  else console.log(`[worker] ${message}`);
}
