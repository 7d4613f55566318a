import { splitTrainValidation } from '../../../src/data';
import { createQueue } from '../../../src/queue/queues';
import {
  CREATE_DATASET,
  CREATE_JOB,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { errorCode, Gql } from '../support/client';

describe('training jobs through the API (no worker)', () => {
  let api: TestApi;
  let modelId: string;
  let sftId: string;
  let prefId: string;
  let teamB: Gql;

  beforeAll(async () => {
    api = await startTestApi();
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } })).data
      ?.registerModel.id;
    sftId = (await api.admin(CREATE_DATASET, { input: { name: 'sft', kind: 'SFT', jsonl: sftJsonl(8) } }))
      .data?.createDataset.id;
    prefId = (
      await api.admin(CREATE_DATASET, {
        input: { name: 'pref', kind: 'PREFERENCE', jsonl: '{"prompt":"p","chosen":"a","rejected":"b"}' },
      })
    ).data?.createDataset.id;
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { adminKey { secret } } }`,
    );
    teamB = api.as(made.data?.createProject.adminKey.secret);
  });
  afterAll(() => api.close());

  const job = (over: Record<string, unknown> = {}) => ({
    name: 'job',
    baseModelId: modelId,
    datasetId: sftId,
    method: 'SFT',
    parameterScale: 'LORA',
    ...over,
  });
  const jobCount = async () =>
    Number((await api.app.db.query(`SELECT count(*) AS n FROM training_jobs`))[0].n);

  it('creates a QUEUED job with defaults filled in and queues it on `training`', async () => {
    const result = await api.admin(CREATE_JOB, {
      input: job({ hyperparameters: { learningRate: 0.01, lrScheduler: 'COSINE', loraRank: 4 } }),
    });
    expect(result.errors).toBeUndefined();
    const created = result.data?.createTrainingJob;
    expect(created).toMatchObject({
      status: 'QUEUED',
      method: 'SFT',
      parameterScale: 'LORA',
      step: 0,
      progress: 0,
      baseModel: { id: modelId },
      dataset: { id: sftId },
      hyperparameters: {
        epochs: 3,
        batchSize: 8,
        learningRate: 0.01,
        lrScheduler: 'COSINE',
        loraRank: 4,
        loraAlpha: 8,
        loraTargets: ['q_proj', 'v_proj'],
        numVirtualTokens: null,
        maxSequenceLength: 1024,
        checkpointEverySteps: 50,
        executionProvider: 'CPU',
      },
    });
    const queue = createQueue('training', api.env.config);
    try {
      const waiting = await queue.getWaiting();
      expect(waiting.map((j) => j.data)).toContainEqual({ jobId: created.id, projectId: expect.any(String) });
    } finally {
      await queue.close();
    }
    const stored = await api.app.db.query(`SELECT hyperparameters FROM training_jobs WHERE id = $1`, [
      created.id,
    ]);
    expect(stored[0].hyperparameters).toMatchObject({
      lrScheduler: 'cosine',
      loraRank: 4,
      executionProvider: 'CPU',
    });
  });

  it('answers every bad input with BAD_USER_INPUT at the field and stores nothing', async () => {
    const before = await jobCount();
    const hp = (h: Record<string, unknown>) => job({ hyperparameters: h });
    const cases: [Record<string, unknown>, string[]][] = [
      [job({ name: '' }), ['input', 'name']],
      [job({ baseModelId: 'nope' }), ['input', 'baseModelId']],
      [job({ baseModelId: '00000000-0000-4000-8000-000000000000' }), ['input', 'baseModelId']],
      [job({ datasetId: 'nope' }), ['input', 'datasetId']],
      [job({ method: 'DPO' }), ['input', 'datasetId']],
      [job({ datasetId: prefId }), ['input', 'datasetId']],
      [
        job({ method: 'REWARD_MODEL', datasetId: prefId, parameterScale: 'PROMPT_TUNING' }),
        ['input', 'parameterScale'],
      ],
      [hp({ learningRate: 0 }), ['input', 'hyperparameters', 'learningRate']],
      [hp({ learningRate: 2 }), ['input', 'hyperparameters', 'learningRate']],
      [hp({ epochs: 0 }), ['input', 'hyperparameters', 'epochs']],
      [hp({ batchSize: 5000 }), ['input', 'hyperparameters', 'batchSize']],
      [hp({ warmupRatio: 1.5 }), ['input', 'hyperparameters', 'warmupRatio']],
      [hp({ loraDropout: 0.95 }), ['input', 'hyperparameters', 'loraDropout']],
      [hp({ loraTargets: [] }), ['input', 'hyperparameters', 'loraTargets']],
      [hp({ loraTargets: ['q_proj', 'bad name'] }), ['input', 'hyperparameters', 'loraTargets', '1']],
      [hp({ numVirtualTokens: 10 }), ['input', 'hyperparameters', 'numVirtualTokens']],
      [hp({ maxSequenceLength: 4096 }), ['input', 'hyperparameters', 'maxSequenceLength']],
      [
        job({ parameterScale: 'FULL', hyperparameters: { loraRank: 8 } }),
        ['input', 'hyperparameters', 'loraRank'],
      ],
    ];
    for (const [input, where] of cases) {
      const r = await api.admin(CREATE_JOB, { input });
      expect({ input, code: errorCode(r), path: r.errors?.[0].extensions?.path }).toEqual({
        input,
        code: 'BAD_USER_INPUT',
        path: where,
      });
    }
    // Type errors are refused by GraphQL itself, also before anything is stored.
    expect(errorCode(await api.admin(CREATE_JOB, { input: hp({ epochs: 1.5 }) }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await api.admin(CREATE_JOB, { input: hp({ lrScheduler: 'SOMETIMES' }) }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(await jobCount()).toBe(before);
  });

  it("refuses a job whose memory estimate exceeds the workers' budget, stating both, and stores nothing", async () => {
    const before = await jobCount();
    process.env.WHETSTONE_MEMORY_BUDGET = '100MiB';
    try {
      const r = await api.admin(CREATE_JOB, { input: job({ hyperparameters: { batchSize: 4 } }) });
      expect(errorCode(r)).toBe('BAD_USER_INPUT');
      expect(r.errors?.[0].extensions).toMatchObject({
        reason: 'MEMORY_BUDGET_EXCEEDED',
        path: ['input', 'hyperparameters'],
      });
      expect(r.errors?.[0].message).toMatch(/needs an estimated \d+\.\d GiB of memory .* budget of 0\.1 GiB/);
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
    expect(await jobCount()).toBe(before);
    // Under the default budget (the memory available) the same job is accepted.
    const ok = await api.admin(CREATE_JOB, { input: job({ hyperparameters: { batchSize: 4 } }) });
    expect(ok.errors).toBeUndefined();
  });

  it("counts evalMetricsAtEpochEnd's generation, as wide as the validation prompts, beside the training", async () => {
    // Job-held-out validation rows (seed 7, a quarter of 16): the API measures the rows the worker will answer.
    const seed = 7;
    const heldOutOf = (rows: number) => new Set(splitTrainValidation(rows, 0.25, seed).validation);
    const heldOut = heldOutOf(16);
    const long = 'How many? '.repeat(60);
    const dataset = async (name: string, longAt: (i: number) => boolean, split = {}, rows = 16) =>
      (
        await api.admin(CREATE_DATASET, {
          input: {
            name,
            kind: 'SFT',
            jsonl: Array.from({ length: rows }, (_, i) =>
              JSON.stringify({ prompt: longAt(i) ? long : `Q${i}?`, response: ' 1' }),
            ).join('\n'),
            ...split,
          },
        })
      ).data?.createDataset.id;
    const longValidation = await dataset('long-validation', (i) => heldOut.has(i));
    const longTraining = await dataset('long-training', (i) => !heldOut.has(i));
    // The same rows held out by the dataset's own split (its validation split), the job holding none out.
    const splitAt = { validationSplitRatio: 0.25, splitSeed: seed };
    const longSplit = await dataset('long-split', (i) => heldOut.has(i), splitAt);
    const shortSplit = await dataset('short-split', (i) => !heldOut.has(i), splitAt);
    // Two long validation prompts of 8 rows: the generation's batch is those two, not the job's four.
    const fewValidation = await dataset('few-validation', (i) => heldOutOf(8).has(i), {}, 8);
    const before = await jobCount();
    const plain = { batchSize: 4, validationSplitRatio: 0.25, seed };
    const evaluating = { ...plain, evalMetricsAtEpochEnd: true, evalMaxNewTokens: 1024 };
    const create = (datasetId: string, hyperparameters: Record<string, unknown>) =>
      api.admin(CREATE_JOB, { input: job({ datasetId, hyperparameters }) });
    // The demo model's steps fit 1.1 GiB, not beside the generation of 4 x (1024 + 1024) tokens (0.5 GiB): prompts
    // as long as the training's 1,024-token sequences, or as wide as a batch of 600-token prompts.
    process.env.WHETSTONE_MEMORY_BUDGET = '1.1GiB';
    try {
      const r = await create(longValidation, evaluating);
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
        path: ['input', 'hyperparameters'],
      });
      expect(r.errors?.[0].message).toMatch(
        /more than the worker's budget less the 0\.5 GiB evalMetricsAtEpochEnd's generation adds of 0\.6 GiB/,
      );
      const bySplit = await create(longSplit, { ...evaluating, validationSplitRatio: 0 });
      expect(bySplit.errors?.[0].extensions?.reason).toBe('MEMORY_BUDGET_EXCEEDED');
      expect(await jobCount()).toBe(before);
      // Short validation prompts (the long ones train) and sftJsonl's short prompts leave room for the steps.
      expect((await create(longTraining, evaluating)).errors).toBeUndefined();
      expect((await create(shortSplit, { ...evaluating, validationSplitRatio: 0 })).errors).toBeUndefined();
      expect((await create(sftId, evaluating)).errors).toBeUndefined();
      expect((await create(longValidation, plain)).errors).toBeUndefined();
      expect((await create(fewValidation, evaluating)).errors).toBeUndefined();
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
  });

  it("counts RL's sampling and reward scoring beside the training in the estimate", async () => {
    const prompts = (
      await api.admin(CREATE_DATASET, {
        input: { name: 'prompts', kind: 'PROMPT_ONLY', jsonl: '{"prompt":"Sky?"}\n{"prompt":"Up?"}' },
      })
    ).data?.createDataset.id;
    const rm = await api.admin(CREATE_JOB, {
      input: job({ name: 'rm', method: 'REWARD_MODEL', datasetId: prefId }),
    });
    const rewardModelJobId = rm.data?.createTrainingJob.id;
    await api.app.db.query(`UPDATE training_jobs SET status = 'SUCCEEDED' WHERE id = $1`, [rewardModelJobId]);
    const rl = (hyperparameters: Record<string, unknown>) =>
      job({ name: 'rl', method: 'RL', datasetId: prompts, rewardModelJobId, hyperparameters });
    // The demo model's steps on 16 rows of 512 tokens fit 0.9 GiB (0.73 GiB with every memory option on), not
    // beside the sampling of 16 x (385 + 128) tokens and the scoring of those sequences (0.3 GiB).
    const sampling = { batchSize: 2, numGenerations: 8, maxSequenceLength: 512, maxNewTokens: 128 };
    const before = await jobCount();
    process.env.WHETSTONE_MEMORY_BUDGET = '0.9GiB';
    try {
      const r = await api.admin(CREATE_JOB, { input: rl(sampling) });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
        path: ['input', 'hyperparameters'],
      });
      expect(r.errors?.[0].message).toMatch(
        new RegExp(
          '^this job needs an estimated 0\\.7 GiB of memory \\(batch 2 x 512 tokens.*more than ' +
            "the worker's budget less the 0\\.3 GiB RL's sampling and reward scoring add \\(the reward " +
            "model's weights 0\\.0 GiB, then the larger of sampling 16 x 385 \\+ 128 tokens 0\\.3 GiB and " +
            'scoring 0\\.3 GiB\\) of 0\\.6 GiB',
        ),
      );
      expect(await jobCount()).toBe(before);
      const small = { ...sampling, numGenerations: 2, maxSequenceLength: 256, maxNewTokens: 64 };
      const ok = await api.admin(CREATE_JOB, { input: rl(small) });
      expect(ok.errors).toBeUndefined();
      expect(ok.data?.createTrainingJob).toMatchObject({ method: 'RL', status: 'QUEUED' });
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
  });

  it("refuses a GPU job whose estimate exceeds the device's memory (WHETSTONE_GPU_MEMORY), not a CPU one", async () => {
    const before = await jobCount();
    process.env.WHETSTONE_GPU_MEMORY = '100MiB';
    try {
      const gpu = { hyperparameters: { batchSize: 4, executionProvider: 'WEBGPU' } };
      const r = await api.admin(CREATE_JOB, { input: job(gpu) });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
      });
      expect(r.errors?.[0].message).toMatch(
        /than the device memory of WHETSTONE_GPU_MEMORY \(webgpu\) of 0\.1 GiB/,
      );
      expect(await jobCount()).toBe(before);
      const cpu = await api.admin(CREATE_JOB, { input: job({ hyperparameters: { batchSize: 4 } }) });
      expect(cpu.errors).toBeUndefined();
    } finally {
      delete process.env.WHETSTONE_GPU_MEMORY;
    }
  });

  it('cancels a QUEUED job at once; a finished job cannot be cancelled (CONFLICT)', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    const cancel = `mutation($id: ID!) { cancelTrainingJob(id: $id) { status finishedAt cancelRequested } }`;
    const cancelled = await api.admin(cancel, { id });
    expect(cancelled.data?.cancelTrainingJob).toMatchObject({ status: 'CANCELLED', cancelRequested: false });
    expect(cancelled.data?.cancelTrainingJob.finishedAt).not.toBeNull();
    expect((await api.admin(cancel, { id })).data?.cancelTrainingJob.status).toBe('CANCELLED');

    await api.app.db.query(`UPDATE training_jobs SET status = 'SUCCEEDED' WHERE id = $1`, [id]);
    expect(errorCode(await api.admin(cancel, { id }))).toBe('CONFLICT');
  });

  it('marks a RUNNING job for cancellation (its worker stops it)', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    await api.app.db.query(`UPDATE training_jobs SET status = 'RUNNING' WHERE id = $1`, [id]);
    const r = await api.admin(
      `mutation($id: ID!) { cancelTrainingJob(id: $id) { status cancelRequested } }`,
      { id },
    );
    expect(r.data?.cancelTrainingJob).toEqual({ status: 'RUNNING', cancelRequested: true });
  });

  it('resumes FAILED or CANCELLED jobs from one of their checkpoints, forgetting later steps', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    const other = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    const db = api.app.db;
    for (let step = 1; step <= 6; step++) {
      await db.query(
        `INSERT INTO training_step_metrics VALUES ($1, $2::int, 1, 6, $3, 0.001, 1, 100, $2::int, 6 - $2::int, NULL, now())`,
        [id, step, 10 - step],
      );
    }
    const [cp2] = await db.query(
      `INSERT INTO checkpoints (job_id, step, path, metrics) VALUES ($1, 2, '/tmp/c2', '{"loss": 8}') RETURNING id`,
      [id],
    );
    const [cpOther] = await db.query(
      `INSERT INTO checkpoints (job_id, step, path, metrics) VALUES ($1, 2, '/tmp/o2', '{}') RETURNING id`,
      [other],
    );
    const resume = `mutation($id: ID!, $cp: ID!) {
      resumeTrainingJob(id: $id, checkpointId: $cp) { status step latestLoss metrics { step } checkpoints { id step } }
    }`;
    expect(errorCode(await api.admin(resume, { id, cp: cp2.id }))).toBe('CONFLICT'); // QUEUED
    await db.query(
      `UPDATE training_jobs SET status = 'FAILED', error = 'boom', step = 6, total_steps = 6 WHERE id = $1`,
      [id],
    );
    const foreign = await api.admin(resume, { id, cp: cpOther.id });
    expect(foreign.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', path: ['checkpointId'] });

    const resumed = await api.admin(resume, { id, cp: cp2.id });
    expect(resumed.data?.resumeTrainingJob).toEqual({
      status: 'QUEUED',
      step: 2,
      latestLoss: 8,
      metrics: [{ step: 1 }, { step: 2 }],
      checkpoints: [{ id: cp2.id, step: 2 }],
    });
    const row = await db.query(`SELECT resume_checkpoint_id, error FROM training_jobs WHERE id = $1`, [id]);
    expect(row[0]).toEqual({ resume_checkpoint_id: cp2.id, error: null });
  });

  it('lists jobs newest first with cursor pages and filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(
        (await api.admin(CREATE_JOB, { input: job({ name: `page-${i}` }) })).data?.createTrainingJob.id,
      );
    }
    const list = `query($first: Int, $after: String, $filter: TrainingJobFilter) {
      trainingJobs(first: $first, after: $after, filter: $filter) {
        edges { cursor node { id name status } } pageInfo { endCursor hasNextPage }
      }
    }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { data: any } = await api.admin(list, { first: 3, after, filter: { status: ['QUEUED'] } }); // eslint-disable-line @typescript-eslint/no-explicit-any
      const conn = page.data.trainingJobs;
      seen.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen.slice(0, 7)).toEqual([...ids].reverse());
    const all = await api.app.db.query(
      `SELECT id FROM training_jobs WHERE status = 'QUEUED' ORDER BY created_at DESC, id DESC`,
    );
    expect(seen).toEqual(all.map((r: { id: string }) => r.id));

    const byModel = await api.admin(list, { first: 100, filter: { baseModelId: modelId, method: ['SFT'] } });
    const sft = await api.app.db.query(`SELECT count(*) AS n FROM training_jobs WHERE method = 'SFT'`);
    expect(byModel.data?.trainingJobs.edges.length).toBe(Number(sft[0].n));
    const none = await api.admin(list, { filter: { method: ['DPO'] } });
    expect(none.data?.trainingJobs).toEqual({ edges: [], pageInfo: { endCursor: null, hasNextPage: false } });
    expect(errorCode(await api.admin(list, { after: 'garbage' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await api.admin(list, { first: 1000 }))).toBe('BAD_USER_INPUT');
  });

  it('downsamples the metric series on request, always keeping the last step', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    await api.app.db.query(
      `INSERT INTO training_step_metrics
       SELECT $1, s, 1, 100, 1.0 / s, 0.001, 1, 100, s, 100 - s, NULL, now() FROM generate_series(1, 100) s`,
      [id],
    );
    const q = `query($id: ID!, $n: Int) { trainingJob(id: $id) { metrics(maxPoints: $n) { step loss } } }`;
    expect((await api.admin(q, { id })).data?.trainingJob.metrics).toHaveLength(100);
    const ten = (await api.admin(q, { id, n: 10 })).data?.trainingJob.metrics;
    expect(ten.map((m: { step: number }) => m.step)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(ten[9].loss).toBeCloseTo(0.01);
    // Buckets are equal step ranges: one without stored steps adds no point.
    await api.app.db.query(`DELETE FROM training_step_metrics WHERE job_id = $1 AND step BETWEEN 41 AND 50`, [
      id,
    ]);
    const gap = (await api.admin(q, { id, n: 10 })).data?.trainingJob.metrics;
    expect(gap.map((m: { step: number }) => m.step)).toEqual([10, 20, 30, 40, 60, 70, 80, 90, 100]);
    const window = await api.admin(
      `query($id: ID!) { trainingJob(id: $id) { metrics(fromStep: 5, toStep: 7) { step } } }`,
      {
        id,
      },
    );
    expect(window.data?.trainingJob.metrics).toEqual([{ step: 5 }, { step: 6 }, { step: 7 }]);
    expect(errorCode(await api.admin(q, { id, n: 0 }))).toBe('BAD_USER_INPUT');
  });

  it('answers at most 100,000 steps at a time; the rest continue from the next step', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    await api.app.db.query(
      `INSERT INTO training_step_metrics
       SELECT $1, s, 1, 100005, 1.0, 0.001, 1, 100, s, 0, NULL, now() FROM generate_series(1, 100005) s`,
      [id],
    );
    const q = `query($id: ID!, $from: Int) { trainingJob(id: $id) {
      metricSeries(fromStep: $from) { steps } metrics(fromStep: $from) { step } } }`;
    const first = (await api.admin(q, { id })).data?.trainingJob;
    expect(first.metricSeries.steps).toHaveLength(100_000);
    expect(first.metricSeries.steps.at(-1)).toBe(100_000);
    expect(first.metrics).toHaveLength(100_000);
    const rest = (await api.admin(q, { id, from: 100_001 })).data?.trainingJob;
    expect(rest.metricSeries.steps).toEqual([100_001, 100_002, 100_003, 100_004, 100_005]);
    expect(rest.metrics.map((m: { step: number }) => m.step)).toEqual(rest.metricSeries.steps);
  });

  it('serves the steps as columns, with method metrics aligned to the steps', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    await api.app.db.query(
      `INSERT INTO training_step_metrics
       SELECT $1, s, 1 + (s > 2)::int, 4, 1.0 / s, 0.001 * s, 2, 100, s, 4 - s,
              CASE WHEN s % 2 = 0 THEN jsonb_build_object('eval_loss', s * 0.5) END, now()
         FROM generate_series(1, 4) s`,
      [id],
    );
    const q = `query($id: ID!, $n: Int, $from: Int) { trainingJob(id: $id) {
      metricSeries(maxPoints: $n, fromStep: $from) { steps epochs loss learningRate gradNorm tokensPerSecond elapsedSeconds extra }
    } }`;
    expect((await api.admin(q, { id })).data?.trainingJob.metricSeries).toEqual({
      steps: [1, 2, 3, 4],
      epochs: [1, 1, 2, 2],
      loss: [1, 0.5, 1 / 3, 0.25],
      learningRate: [0.001, 0.002, 0.003, 0.004],
      gradNorm: [2, 2, 2, 2],
      tokensPerSecond: [100, 100, 100, 100],
      elapsedSeconds: [1, 2, 3, 4],
      extra: { eval_loss: [null, 1, null, 2] },
    });
    const two = (await api.admin(q, { id, n: 2, from: 2 })).data?.trainingJob.metricSeries;
    expect(two).toMatchObject({ steps: [3, 4], loss: [1 / 3, 0.25], extra: { eval_loss: [null, 2] } });
    const empty = (await api.admin(q, { id, from: 10 })).data?.trainingJob.metricSeries;
    expect(empty).toMatchObject({ steps: [], loss: [], extra: {} });
    expect(errorCode(await api.admin(q, { id, n: 0 }))).toBe('BAD_USER_INPUT');
  });

  it('serves columns equal to the stored rows, within fromStep/toStep, as exact doubles', async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    // Steps 3, 6, ..., 3000 (gaps), random doubles, two extra metrics at different steps, a diverged step.
    await api.app.db.query(
      `INSERT INTO training_step_metrics
       SELECT $1, 3 * s, 1 + s / 400, 1000, CASE WHEN s = 500 THEN 'NaN' ELSE random() * 5 END, random() * 1e-4,
              CASE WHEN s = 501 THEN 'Infinity' ELSE random() END, 9000 + random(), s * 0.37, 0,
              CASE WHEN s % 7 = 0 THEN jsonb_build_object('eval_loss', random())
                   WHEN s % 11 = 0 THEN jsonb_build_object('reward', -random(), 'eval_loss', random()) END,
              now()
         FROM generate_series(1, 1000) s`,
      [id],
    );
    const q = `query($id: ID!, $from: Int, $to: Int, $n: Int) { trainingJob(id: $id) {
      metricSeries(fromStep: $from, toStep: $to, maxPoints: $n) {
        steps epochs loss learningRate gradNorm tokensPerSecond elapsedSeconds extra }
      metrics(fromStep: $from, toStep: $to, maxPoints: $n) { step } } }`;
    const stored = async (from: number, to: number) => {
      const rows: Record<string, number | string | null>[] = await api.app.db.query(
        `SELECT step, epoch, loss, learning_rate, grad_norm, tokens_per_second, elapsed_seconds,
                extra->'eval_loss' AS eval_loss, extra->'reward' AS reward
           FROM training_step_metrics WHERE job_id = $1 AND step BETWEEN $2 AND $3 ORDER BY step`,
        [id, from, to],
      );
      const column = (c: string) => rows.map((r) => (Number.isFinite(r[c]) ? r[c] : null));
      return {
        steps: column('step'),
        epochs: column('epoch'),
        loss: column('loss'),
        learningRate: column('learning_rate'),
        gradNorm: column('grad_norm'),
        tokensPerSecond: column('tokens_per_second'),
        elapsedSeconds: column('elapsed_seconds'),
        extra: { eval_loss: column('eval_loss'), reward: column('reward') },
      };
    };
    const series = async (vars: Record<string, number>) => {
      const res = await api.admin(q, { id, ...vars });
      expect(res.errors).toBeUndefined();
      return res.data?.trainingJob;
    };
    // fromStep and toStep on stored steps are included; between steps they round inwards.
    const window = await series({ from: 1500, to: 2400 });
    expect(window.metricSeries).toEqual(await stored(1500, 2400));
    expect(window.metricSeries.steps.slice(0, 2)).toEqual([1500, 1503]);
    expect(window.metricSeries.steps.at(-1)).toBe(2400);
    expect((await series({ from: 1501, to: 2399 })).metricSeries.steps).toEqual(
      window.metricSeries.steps.slice(1, -1),
    );
    // The diverged step's NaN loss and infinite norm are null; every other value is the stored double.
    const all = (await series({})).metricSeries;
    expect(all).toEqual(await stored(0, 3000));
    expect(all.loss[499]).toBeNull();
    expect(all.gradNorm[500]).toBeNull();
    expect(all.steps).toHaveLength(1000);
    // Only the selected lists are read, through fragments too; extra alone stays aligned with the steps.
    const some = await api.admin(
      `query($id: ID!) { trainingJob(id: $id) { metricSeries { extra ...L } } }
       fragment L on StepSeries { ... on StepSeries { loss } }`,
      { id },
    );
    expect(some.data?.trainingJob.metricSeries).toEqual({ loss: all.loss, extra: all.extra });
    // Packed: the same lists as base64 of little-endian numbers, NaN and the infinity as stored.
    const packed = (
      await api.admin(
        `query($id: ID!) { trainingJob(id: $id) { packedMetricSeries { steps loss gradNorm extra } } }`,
        { id },
      )
    ).data?.trainingJob.packedMetricSeries;
    const unpack = (base64: string, width: 4 | 8) => {
      const bytes = Buffer.from(base64, 'base64');
      expect(bytes.length % width).toBe(0);
      return Array.from({ length: bytes.length / width }, (_, i) =>
        width === 4 ? bytes.readInt32LE(i * 4) : bytes.readDoubleLE(i * 8),
      );
    };
    const finite = (values: number[]) => values.map((v) => (Number.isFinite(v) ? v : null));
    expect(unpack(packed.steps, 4)).toEqual(all.steps);
    expect(unpack(packed.loss, 8)[499]).toBeNaN();
    expect(unpack(packed.gradNorm, 8)[500]).toBe(Infinity);
    expect(finite(unpack(packed.loss, 8))).toEqual(all.loss);
    expect(finite(unpack(packed.gradNorm, 8))).toEqual(all.gradNorm);
    expect(packed.extra).toEqual(all.extra);
    // Downsampled, the same steps as the objects; outside the stored steps, empty lists.
    const ten = await series({ n: 10, from: 31 });
    expect(ten.metricSeries.steps).toEqual(ten.metrics.map((m: { step: number }) => m.step));
    expect(ten.metricSeries.steps).toHaveLength(10);
    expect(ten.metricSeries.steps.at(-1)).toBe(3000);
    expect((await series({ from: 3001 })).metricSeries).toEqual({
      ...(await stored(1, 0)),
      extra: {},
    });
  });

  it("keeps projects apart: another project's jobs, models and datasets are NOT_FOUND or invisible", async () => {
    const id = (await api.admin(CREATE_JOB, { input: job() })).data?.createTrainingJob.id;
    const get = await teamB(`query($id: ID!) { trainingJob(id: $id) { id } }`, { id });
    expect(errorCode(get)).toBe('NOT_FOUND');
    expect(errorCode(await teamB(`mutation($id: ID!) { cancelTrainingJob(id: $id) { id } }`, { id }))).toBe(
      'NOT_FOUND',
    );
    expect(
      errorCode(
        await teamB(`mutation($id: ID!) { resumeTrainingJob(id: $id, checkpointId: $id) { id } }`, { id }),
      ),
    ).toBe('NOT_FOUND');
    const list = await teamB(`{ trainingJobs { edges { node { id } } } models { id } datasets { id } }`);
    expect(list.data).toEqual({ trainingJobs: { edges: [] }, models: [], datasets: [] });
    expect(errorCode(await teamB(`query($id: ID!) { model(id: $id) { id } }`, { id: modelId }))).toBe(
      'NOT_FOUND',
    );
    expect(errorCode(await teamB(`query($id: ID!) { dataset(id: $id) { id } }`, { id: sftId }))).toBe(
      'NOT_FOUND',
    );
    const borrow = await teamB(CREATE_JOB, { input: job() });
    expect(borrow.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['input', 'baseModelId'],
    });
    const still = await api.admin(`query($id: ID!) { trainingJob(id: $id) { status } }`, { id });
    expect(still.data?.trainingJob.status).toBe('QUEUED');
  });
});
