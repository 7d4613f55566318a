/**
 * The job runner on the real engine and the demo model, in this process (its job processes are real children):
 * a job process killed with SIGKILL (as the out-of-memory killer does) is retried from its last checkpoint, every
 * attempt is stored with its cause and shown on the job; after the last attempt the job is FAILED and can be
 * resumed without a checkpoint, from the start; a cancel stops the run within one optimizer step.
 */
import Redis from 'ioredis';
import type { StepEventPayload } from '../../../src/queue/events';
import { EventPublisher } from '../../../src/queue/publisher';
import { RetryError } from '../../../src/worker/job-runner';
import { trainingJobs } from '../../../src/worker/training/job';
import {
  CREATE_DATASET,
  CREATE_JOB,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { testRunner, type TestRunner } from '../support/test-runner';

const JOB = `query($id: ID!) {
  trainingJob(id: $id) {
    status step totalSteps attempts error
    attemptHistory { number workerId startedAt endedAt outcome cause }
    metrics { step recordedAt }
    checkpoints { step }
  }
}`;

interface Attempt {
  number: number;
  workerId: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  cause: string | null;
}

describe('job runner: retries, attempts, cancel (real engine, demo model)', () => {
  let api: TestApi;
  let redis: Redis;
  let modelId: string;
  let datasetId: string;
  /** Called with every step the runner publishes. */
  let onStep: (e: StepEventPayload) => void = () => undefined;

  const runner = (maxAttempts: number) => {
    const publisher = new EventPublisher(redis, api.env.config.redisPrefix);
    const publishStep = publisher.publishStep.bind(publisher);
    publisher.publishStep = async (e) => {
      await publishStep(e);
      onStep(e);
    };
    return testRunner(
      trainingJobs({
        db: api.app.db,
        publisher,
        log: () => undefined,
        ...api.env.config,
        metricsFlushMs: 50,
      }),
      api.app.db,
      maxAttempts,
    );
  };

  beforeAll(async () => {
    api = await startTestApi();
    redis = new Redis(api.env.config.redisUrl);
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } })).data
      ?.registerModel.id;
    datasetId = (await api.admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: sftJsonl(8) } }))
      .data?.createDataset.id;
  });
  beforeEach(() => {
    onStep = () => undefined;
  });
  afterAll(async () => {
    await redis.quit();
    await api.close();
  });

  const createJob = async (name: string, checkpointEverySteps: number) => {
    const r = await api.admin(CREATE_JOB, {
      input: {
        name,
        baseModelId: modelId,
        datasetId,
        method: 'SFT',
        parameterScale: 'LORA',
        hyperparameters: {
          epochs: 3,
          batchSize: 1,
          learningRate: 0.005,
          maxSequenceLength: 64,
          checkpointEverySteps,
          seed: 5,
        },
      },
    });
    expect(r.errors).toBeUndefined();
    return r.data?.createTrainingJob.id as string;
  };
  const job = async (id: string) => (await api.admin(JOB, { id })).data?.trainingJob;
  /** SIGKILLs the run's process once it published `step`. */
  const killAtStep = (run: TestRunner<'training', unknown, never>, step: number) => {
    onStep = (e) => {
      if (e.step === step) process.kill(run.pids.at(-1)!, 'SIGKILL');
    };
  };

  it('retries a killed job process from its last checkpoint and shows each attempt with its cause', async () => {
    const id = await createJob('killed', 4);
    const run = runner(3);
    killAtStep(run, 6);
    await expect(run.handle(id)).rejects.toBeInstanceOf(RetryError);
    const retrying = await job(id);
    expect(retrying.status).toBe('QUEUED');
    expect(retrying.checkpoints.map((c: { step: number }) => c.step)).toEqual([4]);
    const [first] = retrying.attemptHistory as Attempt[];
    expect(first).toMatchObject({ number: 1, workerId: 'test-worker', outcome: 'CRASHED' });
    expect(first.endedAt).not.toBeNull();
    // SIGKILL named, with the evidence that tells the out-of-memory killer from another kill.
    expect(first.cause).toMatch(/killed \(SIGKILL; .*(cgroup|OOM)/);
    expect(first.cause).toMatch(/peak resident memory \d+ MiB/);

    onStep = () => undefined;
    const resumedAt = new Date();
    await run.handle(id);
    const done = await job(id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 2, error: null });
    expect((done.attemptHistory as Attempt[]).map((a) => [a.number, a.outcome])).toEqual([
      [1, 'CRASHED'],
      [2, 'SUCCEEDED'],
    ]);
    // Steps up to the checkpoint are kept from the first attempt; the second ran only those after it.
    const metrics: { step: number; recordedAt: string }[] = done.metrics;
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: done.totalSteps }, (_, i) => i + 1));
    for (const m of metrics) expect(new Date(m.recordedAt) >= resumedAt).toBe(m.step > 4);
  });

  it('fails the job after the last attempt; it resumes without a checkpoint, from the start', async () => {
    const id = await createJob('killed-twice', 1000);
    const run = runner(2);
    killAtStep(run, 2);
    await expect(run.handle(id)).rejects.toBeInstanceOf(RetryError);
    await run.handle(id);
    const failed = await job(id);
    expect(failed.status).toBe('FAILED');
    expect(failed.checkpoints).toEqual([]);
    expect(failed.error).toMatch(/SIGKILL.*\(2 of 2 attempts; resumable\)/);
    expect((failed.attemptHistory as Attempt[]).map((a) => a.outcome)).toEqual(['CRASHED', 'CRASHED']);

    const resumed = await api.admin(`mutation($id: ID!) { resumeTrainingJob(id: $id) { status step } }`, {
      id,
    });
    expect(resumed.errors).toBeUndefined();
    expect(resumed.data?.resumeTrainingJob).toEqual({ status: 'QUEUED', step: 0 });
    // A resumed job has its attempts again: one more crash is retried, not final.
    killAtStep(run, 1);
    await expect(run.handle(id)).rejects.toBeInstanceOf(RetryError);
    onStep = () => undefined;
    await run.handle(id);
    const done = await job(id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.metrics.map((m: { step: number }) => m.step)).toEqual(
      Array.from({ length: done.totalSteps }, (_, i) => i + 1),
    );
    expect((done.attemptHistory as Attempt[]).map((a) => a.outcome)).toEqual([
      'CRASHED',
      'CRASHED',
      'CRASHED',
      'SUCCEEDED',
    ]);
  });

  it('stops a cancelled run within one optimizer step of the worker relaying the cancel', async () => {
    const id = await createJob('cancelled', 1000);
    const run = runner(3);
    let relayedAt: number | null = null;
    onStep = (e) => {
      if (e.step === 3) {
        relayedAt = e.step;
        run.cancel(id);
      }
    };
    await run.handle(id);
    const cancelled = await job(id);
    expect(cancelled.status).toBe('CANCELLED');
    // The worker had step 3's report when it relayed the cancel: the job process stops after that step (it
    // waits for each report to be handled, and the stop request comes before that acknowledgement).
    expect(relayedAt).toBe(3);
    expect(cancelled.step).toBe(3);
    expect(cancelled.checkpoints.map((c: { step: number }) => c.step)).toEqual([cancelled.step]);
    expect((cancelled.attemptHistory as Attempt[]).map((a) => a.outcome)).toEqual(['CANCELLED']);
  });
});
