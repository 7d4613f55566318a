/**
 * The evaluation worker on the real engine: the `evaluation` queue's handler runs jobs created through the API
 * in a child process on the demo model, stores every sample and the aggregates, and streams progress; a
 * cancelled run keeps its samples; a run preempted by shutdown goes back to the queue and the next run scores
 * only the rows left; a broken model fails the job with the reason.
 */
import type { Client } from 'graphql-ws';
import Redis from 'ioredis';
import { aggregate, scoreSample, type SampleScores } from '../../../src/evaluation/metrics';
import { runEvaluation, type ScoredSample } from '../../../src/evaluation/run-evaluation';
import { EventPublisher } from '../../../src/queue/publisher';
import { evaluationJobs } from '../../../src/worker/evaluation/job';
import { PreemptedError, RetryError } from '../../../src/worker/job-runner';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { collect, wsClient } from '../support/client';
import { testRunner, type TestRunner } from '../support/test-runner';
import { CREATE_EVALUATION, EVALUATION, EVALUATION_PROGRESS, ProgressEvent } from './support';

type Progress = { evaluationJobProgress: ProgressEvent };

const ATTEMPTS = `query($id: ID!) { evaluationJob(id: $id) { status attemptHistory { outcome cause } } }`;

const SETTINGS = { maxNewTokens: 6, batchSize: 3, segmenter: 'CHAR', stopwords: 'NONE' };

describe('evaluation worker (real engine, demo model)', () => {
  let api: TestApi;
  let redis: Redis;
  let worker: TestRunner<'evaluation', unknown, never>;
  let modelDir: string;
  let modelId: string;
  let datasetId: string;
  /** Many rows, evaluated one per batch: a stop request lands long before the end. */
  let longId: string;
  const clients: Client[] = [];
  const rows = sftJsonl(8)
    .split('\n')
    .map((l) => JSON.parse(l) as { prompt: string; response: string });

  beforeAll(async () => {
    api = await startTestApi();
    redis = new Redis(api.env.config.redisUrl);
    const publisher = new EventPublisher(redis, api.env.config.redisPrefix);
    worker = testRunner(evaluationJobs({ db: api.app.db, publisher }), api.app.db);
    modelDir = demoModelDir();
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } })).data
      ?.registerModel.id;
    datasetId = (await api.admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: sftJsonl(8) } }))
      .data?.createDataset.id;
    longId = (await api.admin(CREATE_DATASET, { input: { name: 'long', kind: 'SFT', jsonl: sftJsonl(40) } }))
      .data?.createDataset.id;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });
  afterAll(async () => {
    await redis.quit();
    await api.close();
  });

  const createEvaluation = async (name: string, over: Record<string, unknown> = {}) => {
    const r = await api.admin(CREATE_EVALUATION, {
      input: { name, baseModelId: modelId, datasetId, ...SETTINGS, ...over },
    });
    expect(r.errors).toBeUndefined();
    return r.data?.createEvaluationJob.id as string;
  };
  const handle = (jobId: string) => worker.handle(jobId);
  const subscribe = (id: string) => {
    const client = wsClient(api.app.httpServer, `Bearer ${BOOTSTRAP_KEY}`);
    clients.push(client);
    return collect<Progress>(client, EVALUATION_PROGRESS, { id });
  };
  const events = (sub: { events: Progress[] }) => sub.events.map((e) => e.evaluationJobProgress);
  /** A run over the long dataset, one row per batch, once its first batch is stored (plenty of rows remain). */
  const startLongRun = async (name: string) => {
    const id = await createEvaluation(name, { datasetId: longId, batchSize: 1, maxNewTokens: 32 });
    const sub = subscribe(id);
    await sub.waitFor(1);
    const run = handle(id);
    await sub.waitFor(4); // snapshot, RUNNING, total known, the first batch stored
    return { id, sub, run };
  };
  const stored = async (id: string) =>
    (await api.app.db.query(
      `SELECT index, prompt, reference, prediction, accuracy, f1, rouge1_recall, rouge_l_recall, bleu4
         FROM evaluation_samples WHERE evaluation_id = $1 ORDER BY index`,
      [id],
    )) as Record<string, unknown>[];

  it('scores every row in batches, streams progress, stores samples and aggregates equal to the metrics', async () => {
    const id = await createEvaluation('base');
    const sub = subscribe(id);
    await sub.waitFor(1);
    await handle(id);
    await sub.done;

    const all = events(sub);
    expect(all[0]).toMatchObject({ kind: 'SNAPSHOT', status: 'QUEUED', samplesDone: 0, samplesTotal: null });
    expect(all[1]).toMatchObject({ kind: 'STATUS', status: 'RUNNING' });
    const samples = all.filter((e) => e.kind === 'SAMPLES');
    expect(samples.map((e) => e.samplesDone)).toEqual([0, 3, 6, 8]);
    expect(samples.every((e) => e.samplesTotal === 8)).toBe(true);
    const last = all[all.length - 1];
    expect(last).toMatchObject({ kind: 'STATUS', status: 'SUCCEEDED', samplesDone: 8, progress: 1 });

    // The child's answers are the ones an in-process run gives (greedy decoding), scored as metrics.md says.
    const expected: ScoredSample[] = [];
    await runEvaluation(
      {
        modelPath: modelDir,
        adapterPath: null,
        rows,
        indices: rows.map((_, i) => i),
        generation: { maxNewTokens: 6, temperature: 0, topP: 1, seed: 42, batchSize: 3 },
        scoring: { segmenter: 'char', stopwords: 'none' },
        executionProvider: 'cpu',
      },
      { onBatch: (s) => void expected.push(...s), shouldStop: () => false },
    );
    expected.sort((a, b) => a.index - b.index);
    const got = await stored(id);
    expect(got.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    got.forEach((r, i) => {
      expect(r.prompt).toBe(rows[i].prompt);
      expect(r.reference).toBe(rows[i].response);
      expect(r.prediction).toBe(expected[i].prediction);
      const s = scoreSample(r.prediction as string, rows[i].response, {
        segmenter: 'char',
        stopwords: 'none',
      });
      expect([r.accuracy, r.f1, r.rouge1_recall, r.rouge_l_recall, r.bleu4]).toEqual([
        s.accuracy,
        s.f1,
        s.rouge1.recall,
        s.rougeL.recall,
        s.bleu4,
      ]);
    });

    const job = (await api.admin(EVALUATION, { id })).data?.evaluationJob;
    const means = aggregate(expected.map((s) => s.scores));
    const close = (a: SampleScores, b: SampleScores) => {
      const flat = (s: SampleScores) => [
        s.accuracy,
        s.f1,
        ...[s.rouge1, s.rouge2, s.rougeL].flatMap((p) => [p.precision, p.recall, p.f]),
        s.bleu4,
      ];
      flat(a).forEach((v, k) => expect(v).toBeCloseTo(flat(b)[k], 12));
    };
    close(job.results, means);
    close(last.results as unknown as SampleScores, means);
    expect(job).toMatchObject({
      status: 'SUCCEEDED',
      samplesDone: 8,
      samplesTotal: 8,
      skippedRows: 0,
      attempts: 1,
    });
  });

  it('goes back to the queue on shutdown keeping its samples; the next run scores only the rest', async () => {
    const { id, run: first } = await startLongRun('preempted');
    worker.runner.activeRuns().forEach((r) => r.stop('shutdown'));
    await expect(first).rejects.toBeInstanceOf(PreemptedError);
    const [paused] = await api.app.db.query(
      `SELECT status, samples_done FROM evaluation_jobs WHERE id = $1`,
      [id],
    );
    expect(paused.status).toBe('QUEUED');
    expect(paused.samples_done).toBeGreaterThanOrEqual(1);
    expect(paused.samples_done).toBeLessThan(40);
    const kept = await stored(id);

    await handle(id);
    const after = await stored(id);
    expect(after).toHaveLength(40);
    // Rows stored before the shutdown are not scored again.
    for (const row of kept) expect(after.find((r) => r.index === row.index)).toEqual(row);
    const job = (await api.admin(EVALUATION, { id })).data?.evaluationJob;
    expect(job).toMatchObject({ status: 'SUCCEEDED', samplesDone: 40, samplesTotal: 40, attempts: 2 });
  });

  it('stops a cancelled run after its batch, keeping the samples scored so far and no results', async () => {
    const { id, sub, run } = await startLongRun('cancelled');
    worker.cancel(id);
    await run;
    await sub.done;
    expect(events(sub).at(-1)).toMatchObject({ kind: 'STATUS', status: 'CANCELLED', results: null });
    const job = (await api.admin(EVALUATION, { id })).data?.evaluationJob;
    expect(job.status).toBe('CANCELLED');
    expect(job.results).toBeNull();
    expect(job.samplesDone).toBeGreaterThanOrEqual(1);
    expect(job.samplesDone).toBeLessThan(40);
    expect(await stored(id)).toHaveLength(job.samplesDone);
  });

  it('fails a job whose model cannot be loaded, with the reason', async () => {
    const id = await createEvaluation('broken');
    await api.app.db.query(`UPDATE evaluation_jobs SET model_path = '/nonexistent/model' WHERE id = $1`, [
      id,
    ]);
    await handle(id);
    const job = (await api.admin(EVALUATION, { id })).data?.evaluationJob;
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/\/nonexistent\/model/);
  });

  it('retries a killed evaluation process, which scores only the rest; resumes a FAILED one', async () => {
    const id = await createEvaluation('killed', { datasetId: longId, batchSize: 1, maxNewTokens: 32 });
    const sub = subscribe(id);
    await sub.waitFor(1);
    const first = handle(id);
    await sub.waitFor(4); // snapshot, RUNNING, total known, the first batch stored
    process.kill(worker.pids.at(-1)!, 'SIGKILL');
    await expect(first).rejects.toBeInstanceOf(RetryError);
    const kept = await stored(id);
    expect(kept.length).toBeGreaterThanOrEqual(1);
    await handle(id);
    const after = await stored(id);
    expect(after).toHaveLength(40);
    for (const row of kept) expect(after.find((r) => r.index === row.index)).toEqual(row);
    const job = (await api.admin(ATTEMPTS, { id })).data?.evaluationJob;
    expect(job.status).toBe('SUCCEEDED');
    expect(job.attemptHistory.map((a: { outcome: string }) => a.outcome)).toEqual(['CRASHED', 'SUCCEEDED']);
    expect(job.attemptHistory[0].cause).toMatch(/evaluation process was killed \(SIGKILL/);

    const broken = await createEvaluation('resumed');
    const path = (p: string) =>
      api.app.db.query(`UPDATE evaluation_jobs SET model_path = $2 WHERE id = $1`, [broken, p]);
    await path('/nonexistent/model');
    await handle(broken);
    expect((await api.admin(ATTEMPTS, { id: broken })).data?.evaluationJob.status).toBe('FAILED');
    await path(modelDir);
    const resumed = await api.admin(`mutation($id: ID!) { resumeEvaluationJob(id: $id) { status error } }`, {
      id: broken,
    });
    expect(resumed.data?.resumeEvaluationJob).toEqual({ status: 'QUEUED', error: null });
    await handle(broken);
    const done = (await api.admin(ATTEMPTS, { id: broken })).data?.evaluationJob;
    expect(done.status).toBe('SUCCEEDED');
    expect(done.attemptHistory.map((a: { outcome: string }) => a.outcome)).toEqual(['FAILED', 'SUCCEEDED']);
  });
});
