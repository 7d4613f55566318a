/**
 * End to end over HTTP and WebSocket with worker processes and the real training engine on the built-in demo
 * model: a job trains and streams its steps; cancel and resume; a killed worker's job finishes on another worker
 * from the last checkpoint.
 */
import { existsSync, readdirSync } from 'node:fs';
import type { Client } from 'graphql-ws';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  CREATE_JOB,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../integration/support/api';
import { collect, wsClient } from '../integration/support/client';
import { startWorkerProcess, WorkerProcess } from '../integration/support/worker-process';

const PROGRESS = `subscription($id: ID!) {
  trainingJobProgress(jobId: $id) {
    kind jobId status epoch step totalSteps loss learningRate gradNorm tokensPerSecond elapsedSeconds etaSeconds
    error
  }
}`;
const JOB = `query($id: ID!) {
  trainingJob(id: $id) {
    status step totalSteps attempts error
    metrics { step epoch loss learningRate gradNorm recordedAt }
    checkpoints { id step path }
  }
}`;

interface ProgressEvent {
  kind: 'SNAPSHOT' | 'STEP' | 'STATUS';
  status: string;
  step: number;
  totalSteps: number | null;
  loss: number | null;
  learningRate: number | null;
  gradNorm: number | null;
}
type Progress = { trainingJobProgress: ProgressEvent };

jest.setTimeout(300_000);

describe('training end to end', () => {
  let api: TestApi;
  let modelId: string;
  let datasetId: string;
  const workers: WorkerProcess[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    api = await startTestApi({
      WHETSTONE_QUEUE_LOCK_MS: '2000',
      WHETSTONE_QUEUE_STALLED_INTERVAL_MS: '1000',
      WHETSTONE_METRICS_FLUSH_MS: '100',
      WHETSTONE_METRICS_BATCH: '5',
    });
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } })).data
      ?.registerModel.id;
    datasetId = (await api.admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: sftJsonl(8) } }))
      .data?.createDataset.id;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await Promise.all(workers.splice(0).map((w) => (w.child.exitCode === null ? w.stop() : null)));
  });
  afterAll(() => api.close());

  const worker = async () => {
    const w = await startWorkerProcess(api.env.env);
    workers.push(w);
    return w;
  };
  const subscribe = (id: string) => {
    const client = wsClient(api.app.httpServer, `Bearer ${BOOTSTRAP_KEY}`);
    clients.push(client);
    return collect<Progress>(client, PROGRESS, { id });
  };
  const createJob = async (name: string, hyperparameters: Record<string, unknown>) => {
    const result = await api.admin(CREATE_JOB, {
      input: {
        name,
        baseModelId: modelId,
        datasetId,
        method: 'SFT',
        parameterScale: 'LORA',
        hyperparameters,
      },
    });
    expect(result.errors).toBeUndefined();
    return result.data?.createTrainingJob.id as string;
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const events = (sub: { events: Progress[] }) => sub.events.map((e) => e.trainingJobProgress);
  const steps = (sub: { events: Progress[] }) => events(sub).filter((e) => e.kind === 'STEP');
  const waitUntil = async (what: string, check: () => Promise<boolean> | boolean, ms = 120_000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('trains an SFT LoRA job: snapshot, every step in order with a falling loss, SUCCEEDED; metrics and checkpoint agree', async () => {
    const id = await createJob('e2e-sft', {
      epochs: 8,
      batchSize: 4,
      learningRate: 0.05,
      lrScheduler: 'CONSTANT',
      loraRank: 8,
      loraAlpha: 32,
      loraTargets: ['all-linear'],
      maxSequenceLength: 64,
      checkpointEverySteps: 4,
      seed: 1,
    });
    const sub = subscribe(id);
    await sub.waitFor(1); // subscribed while QUEUED: no worker runs yet
    await worker();
    await sub.done;
    const all = events(sub);
    expect(all[0]).toMatchObject({ kind: 'SNAPSHOT', status: 'QUEUED', step: 0 });
    expect(all[1]).toMatchObject({ kind: 'STATUS', status: 'RUNNING' });
    expect(all[all.length - 1]).toMatchObject({ kind: 'STATUS', status: 'SUCCEEDED', error: null });
    const stepEvents = steps(sub);
    const total = stepEvents[0].totalSteps as number;
    expect(total).toBe(16); // 8 rows / batch 4 = 2 steps per epoch, 8 epochs
    expect(stepEvents.map((e) => e.step)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const e of stepEvents) {
      expect(Number.isFinite(e.loss)).toBe(true);
      expect(e.gradNorm).toBeGreaterThan(0);
      expect(e.learningRate).toBeGreaterThan(0);
    }
    const losses = stepEvents.map((e) => e.loss as number);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // The demo model is random: its output head (std 0.02, after a unit-weight RMSNorm, neither trained by LoRA)
    // bounds the logits, so the loss falls from about ln(vocabulary) by a few tenths of a nat, not to near zero.
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) - 0.25);

    const job = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(job).toMatchObject({
      status: 'SUCCEEDED',
      step: total,
      totalSteps: total,
      attempts: 1,
      error: null,
    });
    expect(job.metrics.map((m: { step: number; loss: number }) => [m.step, m.loss])).toEqual(
      stepEvents.map((e) => [e.step, e.loss]),
    );
    const final = job.checkpoints[job.checkpoints.length - 1];
    expect(final.step).toBe(total);
    expect(job.checkpoints.map((c: { step: number }) => c.step)).toEqual(expect.arrayContaining([4, 8, 12]));
    expect(existsSync(final.path)).toBe(true);
    expect(readdirSync(final.path)).toEqual(
      expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']),
    );
  });

  it('cancels a running job within a step, keeps its checkpoint, and resumes it from there to the end', async () => {
    await worker();
    const hyperparameters = {
      epochs: 60,
      batchSize: 1,
      learningRate: 0.005,
      maxSequenceLength: 64,
      checkpointEverySteps: 1000,
      seed: 2,
    };
    const id = await createJob('e2e-cancel', hyperparameters);
    const sub = subscribe(id);
    await waitUntil('three steps', () => steps(sub).length >= 3);
    const cancel = await api.admin(
      `mutation($id: ID!) { cancelTrainingJob(id: $id) { status cancelRequested } }`,
      {
        id,
      },
    );
    expect(cancel.data?.cancelTrainingJob).toEqual({ status: 'RUNNING', cancelRequested: true });
    const stepsAtCancel = steps(sub).length;
    await sub.done;
    const last = events(sub)[events(sub).length - 1];
    expect(last).toMatchObject({ kind: 'STATUS', status: 'CANCELLED' });
    const stoppedAt = steps(sub)[steps(sub).length - 1].step;
    // The runner checks for a cancel between optimizer steps; the margin covers step events still in flight to
    // this subscriber when the mutation returned (a loaded 2-core machine delays them by a few steps).
    expect(stoppedAt).toBeLessThanOrEqual(stepsAtCancel + 5);
    expect(stoppedAt).toBeLessThan(480);

    const cancelled = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(cancelled.status).toBe('CANCELLED');
    const checkpoint = cancelled.checkpoints[cancelled.checkpoints.length - 1];
    expect(checkpoint.step).toBe(stoppedAt);
    expect(existsSync(checkpoint.path)).toBe(true);

    const resumed = await api.admin(
      `mutation($id: ID!, $cp: ID!) { resumeTrainingJob(id: $id, checkpointId: $cp) { status step } }`,
      { id, cp: checkpoint.id },
    );
    expect(resumed.data?.resumeTrainingJob).toEqual({ status: 'QUEUED', step: stoppedAt });
    const rest = subscribe(id);
    await rest.done;
    const restSteps = steps(rest);
    expect(restSteps[0].step).toBe(stoppedAt + 1);
    expect(events(rest)[events(rest).length - 1].status).toBe('SUCCEEDED');
    const done = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(done.metrics.map((m: { step: number }) => m.step)).toEqual(
      Array.from({ length: done.totalSteps }, (_, i) => i + 1),
    );
  });

  it('hands the job of a killed worker to another worker, which continues from the last checkpoint', async () => {
    const first = await worker();
    const id = await createJob('e2e-kill', {
      epochs: 200,
      batchSize: 1,
      learningRate: 0.005,
      maxSequenceLength: 64,
      checkpointEverySteps: 5,
      seed: 3,
    });
    const checkpointed = async () =>
      (await api.app.db.query(`SELECT max(step) AS s FROM checkpoints WHERE job_id = $1`, [id]))[0].s as
        number | null;
    // The first checkpoint seen, then steps stored past it (on a fast machine later checkpoints keep up with the
    // batched step rows, so "past the latest checkpoint" may never be seen).
    let seen: number | null = null;
    await waitUntil('a checkpoint and steps after it', async () => {
      seen ??= await checkpointed();
      const [{ s }] = await api.app.db.query(
        `SELECT max(step) AS s FROM training_step_metrics WHERE job_id = $1`,
        [id],
      );
      return seen !== null && s > seen + 1;
    });
    await first.kill();
    const killedAt = new Date();
    const checkpointStep = (await checkpointed()) as number;
    const runner = first.runnerPids()[0];
    await waitUntil('the orphaned training process to exit', () => !alive(runner));
    // It left through its disconnect path, not with an uncaught `write EPIPE`.
    expect(first.output()).toMatch(new RegExp(`runner ${runner}\\] the worker went away: exiting`));
    expect(first.output()).not.toMatch(/EPIPE|Uncaught|triggerUncaughtException/);

    await worker();
    await waitUntil(
      'the job to finish',
      async () => (await api.admin(JOB, { id })).data?.trainingJob.status === 'SUCCEEDED',
      240_000,
    );
    const job = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(job.attempts).toBe(2);
    const metrics: { step: number; recordedAt: string }[] = job.metrics;
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: job.totalSteps }, (_, i) => i + 1));
    // Steps up to the checkpoint were recorded before the kill and never run again; the rest ran afterwards.
    for (const m of metrics) {
      const before = new Date(m.recordedAt) < killedAt;
      expect({ step: m.step, before }).toEqual({ step: m.step, before: m.step <= checkpointStep });
    }
  });

  it('takes over the job of a killed worker within the lock time plus the stalled-check interval', async () => {
    // Small settings here; TAKEOVER_LOCK_MS and TAKEOVER_STALLED_MS measure others (the README's figures).
    const lockMs = Number(process.env.TAKEOVER_LOCK_MS ?? 2000);
    const stalledMs = Number(process.env.TAKEOVER_STALLED_MS ?? 1000);
    const settings = {
      ...api.env.env,
      WHETSTONE_QUEUE_LOCK_MS: String(lockMs),
      WHETSTONE_QUEUE_STALLED_INTERVAL_MS: String(stalledMs),
    };
    const pair = [await startWorkerProcess(settings), await startWorkerProcess(settings)];
    workers.push(...pair);
    const id = await createJob('e2e-takeover', {
      epochs: 200,
      batchSize: 1,
      learningRate: 0.005,
      maxSequenceLength: 64,
      checkpointEverySteps: 5,
      seed: 6,
    });
    const attempt = async (n: number) =>
      (
        await api.app.db.query(
          `SELECT started_at, outcome, cause FROM job_attempts WHERE job_id = $1 AND number = $2`,
          [id, n],
        )
      )[0] as { started_at: Date; outcome: string | null; cause: string | null } | undefined;
    await waitUntil('the job running', async () => (await attempt(1)) !== undefined);
    const started = (await attempt(1))!.started_at.getTime();
    // Long enough for the job to be in Bull's stalled set (it is copied there at every check).
    await waitUntil('two stalled checks', () => Date.now() > started + 2 * stalledMs + 500);
    const holder = pair.find((w) => w.runnerPids().length > 0)!;
    const killedAt = Date.now();
    await holder.kill();
    await waitUntil('another worker to take the job over', async () => (await attempt(2)) !== undefined);
    const takeoverMs = (await attempt(2))!.started_at.getTime() - killedAt;
    console.log(`takeover after ${takeoverMs} ms (lock ${lockMs} ms, stalled interval ${stalledMs} ms)`);
    // The lock outlives its holder by at most lockMs (renewed every lockMs / 2), and a worker's next stalled
    // check comes at most stalledMs later; the margin covers the claim on a loaded machine.
    expect(takeoverMs).toBeLessThanOrEqual(lockMs + stalledMs + 2000);
    expect(await attempt(1)).toMatchObject({
      outcome: 'WORKER_LOST',
      cause: expect.stringMatching(/stopped renewing its queue lock/),
    });
    await api.admin(`mutation($id: ID!) { cancelTrainingJob(id: $id) { status } }`, { id });
  });

  it('on SIGTERM a worker checkpoints its job and puts it back in the queue; another worker finishes it', async () => {
    const first = await worker();
    const id = await createJob('e2e-shutdown', {
      epochs: 40,
      batchSize: 1,
      learningRate: 0.005,
      maxSequenceLength: 64,
      checkpointEverySteps: 1000,
      seed: 4,
    });
    const sub = subscribe(id);
    await waitUntil('a few steps', () => steps(sub).length >= 3);
    expect(await first.stop()).toBe(0);
    const requeued = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(requeued.status).toBe('QUEUED');
    const checkpoint = requeued.checkpoints[requeued.checkpoints.length - 1];
    expect(checkpoint.step).toBe(requeued.step);

    await worker();
    await sub.done;
    const job = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(job).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect(job.metrics.map((m: { step: number }) => m.step)).toEqual(
      Array.from({ length: job.totalSteps }, (_, i) => i + 1),
    );
    const statuses = events(sub)
      .filter((e) => e.kind === 'STATUS')
      .map((e) => e.status);
    expect(statuses.slice(-3)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']); // requeued, taken over, finished
  });
});
