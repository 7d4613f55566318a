/**
 * Evaluation end to end over HTTP and WebSocket with a worker process and the real engine on the built-in demo
 * model: a LoRA job learns a small prompt/answer set, then the base model and the fine-tuned checkpoint are
 * evaluated on the same set; the fine-tuned one scores higher, and the history, best-per-model, comparison and
 * worst-sample queries return the right rows.
 */
import type { Client } from 'graphql-ws';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  CREATE_JOB,
  demoModelDir,
  REGISTER_MODEL,
  startTestApi,
  TestApi,
} from '../integration/support/api';
import { collect, errorCode, wsClient } from '../integration/support/client';
import {
  CREATE_EVALUATION,
  EVALUATION,
  EVALUATION_PROGRESS,
  ProgressEvent,
} from '../integration/evaluations/support';
import { startWorkerProcess, WorkerProcess } from '../integration/support/worker-process';

jest.setTimeout(300_000);

/** Eight prompts whose answers share a pattern a tiny model learns in a second. */
const ROWS = Array.from({ length: 8 }, (_, i) =>
  JSON.stringify({ prompt: `Q${i}: what is ${i} plus one?`, response: ` The answer is ${i + 1}.` }),
).join('\n');

/** Whitespace tokens without stop words: the answer's words are what counts. */
const SCORING = { segmenter: 'WHITESPACE', stopwords: 'NONE', maxNewTokens: 24 };

describe('evaluation end to end', () => {
  let api: TestApi;
  let worker: WorkerProcess;
  let modelId: string;
  let datasetId: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    api = await startTestApi({ WHETSTONE_METRICS_FLUSH_MS: '100' });
    worker = await startWorkerProcess(api.env.env);
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } })).data
      ?.registerModel.id;
    datasetId = (await api.admin(CREATE_DATASET, { input: { name: 'answers', kind: 'SFT', jsonl: ROWS } }))
      .data?.createDataset.id;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await worker.stop();
    await api.close();
  });

  const subscribe = <T>(query: string, id: string) => {
    const client = wsClient(api.app.httpServer, `Bearer ${BOOTSTRAP_KEY}`);
    clients.push(client);
    return collect<T>(client, query, { id });
  };
  const evaluate = async (name: string, over: Record<string, unknown> = {}) => {
    const created = await api.admin(CREATE_EVALUATION, {
      input: { name, baseModelId: modelId, datasetId, ...SCORING, ...over },
    });
    expect(created.errors).toBeUndefined();
    const id = created.data?.createEvaluationJob.id as string;
    const sub = subscribe<{ evaluationJobProgress: ProgressEvent }>(EVALUATION_PROGRESS, id);
    await sub.done;
    return { id, events: sub.events.map((e) => e.evaluationJobProgress) };
  };

  it('scores a fine-tuned LoRA checkpoint above its base model, and the queries find it', async () => {
    const job = await api.admin(CREATE_JOB, {
      input: {
        name: 'learn-answers',
        baseModelId: modelId,
        datasetId,
        method: 'SFT',
        parameterScale: 'LORA',
        hyperparameters: {
          epochs: 60,
          batchSize: 4,
          learningRate: 0.01,
          loraRank: 8,
          loraAlpha: 16,
          loraTargets: ['all-linear'],
          maxSequenceLength: 64,
          checkpointEverySteps: 1000,
          seed: 1,
        },
      },
    });
    expect(job.errors).toBeUndefined();
    const trainingJobId = job.data?.createTrainingJob.id as string;
    await subscribe(`subscription($id: ID!) { trainingJobProgress(jobId: $id) { status } }`, trainingJobId)
      .done;

    const base = await evaluate('base');
    const tuned = await evaluate('tuned', { trainingJobId });
    for (const run of [base, tuned]) {
      expect(run.events[0]).toMatchObject({ kind: 'SNAPSHOT' });
      const last = run.events[run.events.length - 1];
      expect(last).toMatchObject({ kind: 'STATUS', status: 'SUCCEEDED', samplesDone: 8, samplesTotal: 8 });
      expect(last.results).not.toBeNull();
    }
    const baseJob = (await api.admin(EVALUATION, { id: base.id })).data?.evaluationJob;
    const tunedJob = (await api.admin(EVALUATION, { id: tuned.id })).data?.evaluationJob;
    expect(tunedJob).toMatchObject({ modelKind: 'LORA', trainingJob: { id: trainingJobId } });
    // The random base model answers noise; the fine-tuned one has learnt "The answer is ...".
    expect(tunedJob.results.rougeL.recall).toBeGreaterThan(0.5);
    expect(tunedJob.results.rougeL.recall).toBeGreaterThan(baseJob.results.rougeL.recall + 0.4);
    expect(tunedJob.results.f1).toBeGreaterThan(baseJob.results.f1);

    const compared = await api.admin(
      `query($ids: [ID!]!) { compareEvaluations(ids: $ids) {
          sameRows metrics { metric values differences bestEvaluationId }
          samples(metric: ROUGE_L_RECALL, direction: DESC, first: 8) { edges { node { index predictions difference } } }
        } }`,
      { ids: [base.id, tuned.id] },
    );
    expect(compared.errors).toBeUndefined();
    const c = compared.data?.compareEvaluations;
    expect(c.sameRows).toBe(true);
    const rougeL = c.metrics.find((m: { metric: string }) => m.metric === 'ROUGE_L_RECALL');
    expect(rougeL.values).toEqual([baseJob.results.rougeL.recall, tunedJob.results.rougeL.recall]);
    expect(rougeL.differences[1]).toBeCloseTo(
      tunedJob.results.rougeL.recall - baseJob.results.rougeL.recall,
      12,
    );
    expect(rougeL.bestEvaluationId).toBe(tuned.id);
    const paired = c.samples.edges.map((e: { node: { difference: number } }) => e.node);
    expect(paired).toHaveLength(8);
    expect(paired[0].difference).toBeGreaterThan(0);

    const results = await api.admin(
      `query($d: ID!) { evaluationResults(filter: { datasetId: $d }, orderBy: { metric: ROUGE_L_RECALL }) {
          edges { node { id } } } }`,
      { d: datasetId },
    );
    expect(results.data?.evaluationResults.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([
      tuned.id,
      base.id,
    ]);
    const best = await api.admin(
      `query($d: ID!) { bestEvaluations(datasetId: $d, metric: F1) { edges { node { id modelKind } } } }`,
      { d: datasetId },
    );
    expect(best.data?.bestEvaluations.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([
      tuned.id,
      base.id,
    ]);

    const worst = await api.admin(
      `query($id: ID!) { evaluationJob(id: $id) {
          samples(orderBy: { metric: ROUGE_L_RECALL }, first: 8) {
            edges { node { index prompt reference prediction scores { rougeL { recall } } } } } } }`,
      { id: tuned.id },
    );
    const samples = worst.data?.evaluationJob.samples.edges.map(
      (e: { node: { scores: { rougeL: { recall: number } } } }) => e.node,
    );
    const recalls = samples.map((s: { scores: { rougeL: { recall: number } } }) => s.scores.rougeL.recall);
    expect(recalls).toEqual([...recalls].sort((a: number, b: number) => a - b));
    expect(samples[0].reference).toMatch(/^ The answer is \d\.$/);

    const bad = await api.admin(CREATE_EVALUATION, {
      input: { name: 'bad', baseModelId: modelId, datasetId, maxNewTokens: 0 },
    });
    expect(errorCode(bad)).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0].extensions?.path).toEqual(['input', 'maxNewTokens']);
  });

  it('reports validation loss and, at epoch ends, the six metrics during training, streamed and stored', async () => {
    // The dataset's own validation split (10 of 40 rows) is what the job validates on.
    const rows = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        prompt: `Q${i % 8}: what is ${i % 8} plus one?`,
        response: ` The answer is ${(i % 8) + 1}.`,
      }),
    ).join('\n');
    const split = (
      await api.admin(CREATE_DATASET, {
        input: { name: 'answers-split', kind: 'SFT', jsonl: rows, validationSplitRatio: 0.25 },
      })
    ).data?.createDataset;
    expect(split).toMatchObject({ trainRowCount: 30, validationRowCount: 10 });
    const hyperparameters = {
      epochs: 2,
      batchSize: 2,
      learningRate: 0.003,
      maxSequenceLength: 64,
      seed: 5,
      evalEverySteps: 5,
      evalMetricsAtEpochEnd: true,
      evalMaxNewTokens: 20,
    };
    const input = { name: 'validated', baseModelId: modelId, method: 'SFT', parameterScale: 'FULL' };
    const created = await api.admin(CREATE_JOB, {
      input: { ...input, datasetId: split.id, hyperparameters },
    });
    expect(created.errors).toBeUndefined();
    const id = created.data?.createTrainingJob.id as string;
    type Step = { kind: string; status: string; step: number; extra: Record<string, number> | null };
    const sub = subscribe<{ trainingJobProgress: Step }>(
      `subscription($id: ID!) { trainingJobProgress(jobId: $id) { kind status step extra } }`,
      id,
    );
    await sub.done;
    const events = sub.events.map((e) => e.trainingJobProgress);
    expect(events[events.length - 1].status).toBe('SUCCEEDED');
    const steps = events.filter((e) => e.kind === 'STEP');
    // 30 training rows in batches of 2: 15 steps per epoch, 30 steps.
    expect(steps).toHaveLength(30);
    const stepsWith = (key: string) => steps.filter((e) => e.extra?.[key] !== undefined).map((e) => e.step);
    expect(stepsWith('eval_loss')).toEqual([5, 10, 15, 20, 25, 30]);
    expect(stepsWith('eval_rouge_l_recall')).toEqual([15, 30]);
    const losses = steps.filter((e) => e.extra?.eval_loss !== undefined).map((e) => e.extra!.eval_loss);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);

    const stored = await api.admin(
      `query($id: ID!) { trainingJob(id: $id) { metrics { step extra }
          hyperparameters { validationSplitRatio evalEverySteps evalMetricsAtEpochEnd evalMaxNewTokens } } }`,
      { id },
    );
    const job = stored.data?.trainingJob;
    expect(job.hyperparameters).toEqual({
      validationSplitRatio: 0,
      evalEverySteps: 5,
      evalMetricsAtEpochEnd: true,
      evalMaxNewTokens: 20,
    });
    const final = job.metrics.find((m: { step: number }) => m.step === 30);
    expect(final.extra).toEqual(steps[29].extra);
    expect(Object.keys(final.extra)).toEqual(
      expect.arrayContaining(['eval_loss', 'eval_accuracy', 'eval_f1', 'eval_rouge1_recall', 'eval_bleu4']),
    );

    // Without validation rows (no split in the dataset, none held out) evaluation cannot run.
    const refused = await api.admin(CREATE_JOB, { input: { ...input, datasetId, hyperparameters } });
    expect(refused.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['input', 'hyperparameters', 'validationSplitRatio'],
    });
    const heldOut = await api.admin(CREATE_JOB, {
      input: { ...input, datasetId, hyperparameters: { ...hyperparameters, validationSplitRatio: 0.6 } },
    });
    expect(heldOut.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['input', 'hyperparameters', 'validationSplitRatio'],
    });
  });
});
