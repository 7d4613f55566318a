import type { DataSource } from 'typeorm';
import { createDataSource } from '../../../src/db/data-source';
import type { StepEvent } from '../../../src/training/run-job';
import { MetricsWriter } from '../../../src/worker/training/metrics-writer';
import { createTestEnv, TestEnv } from '../support/env';
import { insertJob } from '../support/rows';

const event = (step: number, totalSteps = 10): StepEvent => ({
  epoch: 1 + Math.floor((step - 1) / 5),
  step,
  totalSteps,
  loss: 10 / step,
  learningRate: 1e-3,
  gradNorm: 0.5,
  tokensPerSecond: 1000,
  elapsedSeconds: step,
  etaSeconds: totalSteps - step,
  ...(step === 3 ? { extra: { accuracy: 0.75 } } : {}),
});

describe('MetricsWriter', () => {
  let env: TestEnv;
  let db: DataSource;
  beforeAll(async () => {
    env = await createTestEnv();
    db = await createDataSource(env.config, 2).initialize();
  });
  afterAll(async () => {
    await db.destroy();
    await env.dispose();
  });

  const series = async (jobId: string) =>
    db.query(`SELECT step, epoch, loss, extra FROM training_step_metrics WHERE job_id = $1 ORDER BY step`, [
      jobId,
    ]);

  it('writes in batches of the configured size, then on the timer, and keeps the job row current', async () => {
    const jobId = await insertJob(db);
    const writer = new MetricsWriter(db, jobId, {
      batchSize: 3,
      flushMs: 100,
      onCancelRequested: () => undefined,
      onError: (e) => {
        throw e;
      },
    });
    writer.add(event(1));
    writer.add(event(2));
    expect(await series(jobId)).toHaveLength(0); // below the batch size, before the timer
    writer.add(event(3));
    await writer.flush();
    expect((await series(jobId)).map((r: { step: number }) => r.step)).toEqual([1, 2, 3]);
    expect((await series(jobId))[2].extra).toEqual({ accuracy: 0.75 });

    writer.add(event(4));
    await new Promise((r) => setTimeout(r, 300)); // the timer flushes
    expect((await series(jobId)).map((r: { step: number }) => r.step)).toEqual([1, 2, 3, 4]);
    const [job] = await db.query(
      `SELECT step, epoch, total_steps, latest_loss, progress FROM training_jobs WHERE id = $1`,
      [jobId],
    );
    expect(job).toEqual({ step: 4, epoch: 1, total_steps: 10, latest_loss: 2.5, progress: 0.4 });

    // A step written again (a takeover worker repeating steps after its checkpoint) replaces the old row.
    writer.add({ ...event(4), loss: 7 });
    await writer.flush();
    expect((await series(jobId))[3].loss).toBe(7);
    writer.close();
  });

  it('notices a cancellation request on a flush, once', async () => {
    const jobId = await insertJob(db);
    let noticed = 0;
    const writer = new MetricsWriter(db, jobId, {
      batchSize: 1,
      flushMs: 1000,
      onCancelRequested: () => noticed++,
      onError: (e) => {
        throw e;
      },
    });
    writer.add(event(1));
    await writer.flush();
    expect(noticed).toBe(0);
    await db.query(`UPDATE training_jobs SET cancel_requested_at = now() WHERE id = $1`, [jobId]);
    writer.add(event(2));
    await writer.flush();
    writer.add(event(3));
    await writer.flush();
    expect(noticed).toBe(1);
    writer.close();
  });
});
