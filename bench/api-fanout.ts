/**
 * `npm run bench:api-fanout`: 500 WebSocket subscribers of one job's `trainingJobProgress`; step events are
 * published to Redis as a worker publishes them (EventPublisher), and the delay from each publish to each
 * client's receipt is measured (target: p99 < 100 ms). Subscribers and publisher share this process's clock.
 * Prints a table and, last, one JSON line.
 */
import 'reflect-metadata';
import { createClient, type Client } from 'graphql-ws';
import Redis from 'ioredis';
import WebSocket from 'ws';
import { EventPublisher } from '../src/queue/publisher';
import {
  BENCH_KEY,
  createBenchEnv,
  insertRunningJob,
  quantile,
  round,
  startApiProcess,
  withDb,
} from './api-support';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 500);
const STEPS = Number(process.env.BENCH_STEPS ?? 100);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 50);

const PROGRESS = `subscription($id: ID!) {
  trainingJobProgress(jobId: $id) { kind status step totalSteps loss learningRate gradNorm tokensPerSecond etaSeconds }
}`;

/** Wall-clock milliseconds with sub-millisecond resolution. */
const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const bench = await createBenchEnv();
  const api = await startApiProcess(bench.env);
  const redis = new Redis(bench.config.redisUrl);
  const clients: Client[] = [];
  try {
    const { projectId, jobId } = await withDb(bench.config, (db) =>
      insertRunningJob(db, 'fanout', { checkpointEverySteps: 50 }),
    );
    const publishedAt = new Map<number, number>();
    const delays: number[] = [];
    const received = new Array<number>(SUBSCRIBERS).fill(0);
    let snapshots = 0;
    const completions: Promise<void>[] = [];
    let snapshotsIn!: () => void;
    const allSnapshots = new Promise<void>((r) => (snapshotsIn = r));

    for (let i = 0; i < SUBSCRIBERS; i++) {
      const client = createClient({
        url: api.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${BENCH_KEY}` },
        retryAttempts: 0,
      });
      clients.push(client);
      completions.push(
        new Promise<void>((resolve, reject) => {
          client.subscribe<{ trainingJobProgress: { kind: string; step: number } }>(
            { query: PROGRESS, variables: { id: jobId } },
            {
              next: (value) => {
                const e = value.data?.trainingJobProgress;
                if (!e) return reject(new Error(JSON.stringify(value.errors)));
                if (e.kind === 'SNAPSHOT' && ++snapshots === SUBSCRIBERS) snapshotsIn();
                if (e.kind === 'STEP') {
                  delays.push(now() - (publishedAt.get(e.step) as number));
                  received[i]++;
                }
              },
              error: reject,
              complete: resolve,
            },
          );
        }),
      );
    }
    await allSnapshots;

    const publisher = new EventPublisher(redis, bench.config.redisPrefix);
    const t0 = now();
    for (let step = 1; step <= STEPS; step++) {
      const at = now();
      publishedAt.set(step, at);
      await publisher.publishStep({
        type: 'step',
        jobId,
        projectId,
        epoch: 1,
        step,
        totalSteps: STEPS,
        loss: 2 / step,
        learningRate: 1e-4,
        gradNorm: 1,
        tokensPerSecond: 1000,
        elapsedSeconds: (at - t0) / 1000,
        etaSeconds: ((STEPS - step) * INTERVAL_MS) / 1000,
        extra: null,
        at: new Date(at).toISOString(),
      });
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
    await publisher.publishStatus({
      type: 'status',
      jobId,
      projectId,
      name: 'fanout',
      status: 'SUCCEEDED' as never,
      previousStatus: 'RUNNING' as never,
      error: null,
      at: new Date().toISOString(),
    });
    await Promise.all(completions);

    delays.sort((a, b) => a - b);
    const complete = received.every((n) => n === STEPS);
    const report = {
      subscribers: SUBSCRIBERS,
      steps: STEPS,
      intervalMs: INTERVAL_MS,
      deliveries: delays.length,
      everyEventDelivered: complete,
      p50Ms: round(quantile(delays, 0.5)),
      p99Ms: round(quantile(delays, 0.99)),
      maxMs: round(delays[delays.length - 1]),
      targetP99Ms: 100,
      meetsTarget: complete && quantile(delays, 0.99) < 100,
    };
    console.log(
      `fan-out: ${SUBSCRIBERS} subscribers x ${STEPS} steps (every ${INTERVAL_MS} ms), ${delays.length} deliveries` +
        `${complete ? '' : ' (SOME MISSING)'}:\n  publish -> receipt  p50 ${report.p50Ms} ms   p99 ${report.p99Ms} ms` +
        `   max ${report.maxMs} ms`,
    );
    console.log(JSON.stringify(report));
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await redis.quit();
    await api.stop();
    await bench.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
