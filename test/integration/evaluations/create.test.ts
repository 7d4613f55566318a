/**
 * Creating and cancelling evaluation jobs through the API (no worker): input checks with their field paths, the
 * evaluated model resolved from a training job's checkpoints, the queue entry, cancellation, project scoping.
 */
import { createQueue } from '../../../src/queue/queues';
import {
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { errorCode, Gql } from '../support/client';
import { CREATE_EVALUATION, EVALUATION, insertTrainingJob } from './support';

const CANCEL = `mutation($id: ID!) { cancelEvaluationJob(id: $id) { id status cancelRequested } }`;

describe('evaluation jobs through the API (no worker)', () => {
  let api: TestApi;
  let teamB: Gql;
  let projectId: string;
  let modelPath: string;
  let modelId: string;
  let otherModelId: string;
  let sftId: string;
  let prefId: string;

  beforeAll(async () => {
    api = await startTestApi();
    modelPath = demoModelDir();
    const register = async (name: string) =>
      (await api.admin(REGISTER_MODEL, { input: { name, path: modelPath } })).data?.registerModel
        .id as string;
    modelId = await register('demo');
    otherModelId = await register('other');
    sftId = (
      await api.admin(CREATE_DATASET, {
        input: { name: 'sft', kind: 'SFT', jsonl: sftJsonl(8), validationSplitRatio: 0.25 },
      })
    ).data?.createDataset.id;
    prefId = (
      await api.admin(CREATE_DATASET, {
        input: { name: 'pref', kind: 'PREFERENCE', jsonl: '{"prompt":"p","chosen":"a","rejected":"b"}' },
      })
    ).data?.createDataset.id;
    projectId = (await api.admin(`{ viewer { project { id } } }`)).data?.viewer.project.id;
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { adminKey { secret } } }`,
    );
    teamB = api.as(made.data?.createProject.adminKey.secret);
  });
  afterAll(() => api.close());

  const input = (over: Record<string, unknown> = {}) => ({
    name: 'eval',
    baseModelId: modelId,
    datasetId: sftId,
    ...over,
  });
  const create = (over: Record<string, unknown> = {}, as: Gql = api.admin) =>
    as(CREATE_EVALUATION, { input: input(over) });
  const rows = async () => Number((await api.app.db.query(`SELECT count(*) AS n FROM evaluation_jobs`))[0].n);

  it('creates a QUEUED evaluation of the base model with the documented defaults and queues it on `evaluation`', async () => {
    const result = await create();
    expect(result.errors).toBeUndefined();
    const job = result.data?.createEvaluationJob;
    expect(job).toMatchObject({
      status: 'QUEUED',
      modelKind: 'BASE',
      datasetSplit: null,
      maxNewTokens: 64,
      temperature: 0,
      topP: 1,
      seed: 42,
      batchSize: 8,
      segmenter: 'JIEBA',
      stopwords: 'DEFAULT',
      customStopwords: null,
      executionProvider: 'CPU',
      samplesDone: 0,
      samplesTotal: null,
      progress: 0,
      results: null,
      trainingJob: null,
      checkpoint: null,
      baseModel: { id: modelId },
      dataset: { id: sftId },
    });
    const queue = createQueue('evaluation', api.env.config);
    try {
      const waiting = await queue.getWaiting();
      expect(waiting.map((j) => j.data)).toContainEqual({ jobId: job.id, projectId });
    } finally {
      await queue.close();
    }
    const [row] = await api.app.db.query(
      `SELECT model_path, adapter_path FROM evaluation_jobs WHERE id = $1`,
      [job.id],
    );
    expect(row).toEqual({ model_path: modelPath, adapter_path: null });
  });

  it('evaluates a training job: its latest checkpoint by default, or the one named; adapters go on the base model', async () => {
    const lora = await insertTrainingJob(api.app.db, {
      projectId,
      baseModelId: modelId,
      datasetId: sftId,
      checkpoints: [
        { step: 4, path: '/ckpt/lora-4' },
        { step: 8, path: '/ckpt/lora-8' },
      ],
    });
    const latest = (await create({ trainingJobId: lora.id })).data?.createEvaluationJob;
    expect(latest).toMatchObject({
      modelKind: 'LORA',
      trainingJob: { id: lora.id },
      checkpoint: { step: 8 },
    });
    const named = (await create({ checkpointId: lora.checkpoints[0] })).data?.createEvaluationJob;
    expect(named).toMatchObject({ modelKind: 'LORA', trainingJob: { id: lora.id }, checkpoint: { step: 4 } });
    const paths = async (id: string) =>
      (await api.app.db.query(`SELECT model_path, adapter_path FROM evaluation_jobs WHERE id = $1`, [id]))[0];
    expect(await paths(named.id)).toEqual({ model_path: modelPath, adapter_path: '/ckpt/lora-4' });

    // A full checkpoint is a model folder of its own: its tokenizer encodes the prompts at creation.
    const fullDir = demoModelDir();
    const full = await insertTrainingJob(api.app.db, {
      projectId,
      baseModelId: modelId,
      datasetId: sftId,
      scale: 'FULL',
      checkpoints: [{ step: 3, path: fullDir }],
    });
    const fullEval = (await create({ trainingJobId: full.id })).data?.createEvaluationJob;
    expect(fullEval.modelKind).toBe('FULL');
    expect(await paths(fullEval.id)).toEqual({ model_path: fullDir, adapter_path: null });
  });

  it('says which datasets it can score (Dataset.evaluable): those createEvaluationJob accepts', async () => {
    const r = await api.admin(`{ datasets { id evaluable } }`);
    const byId = new Map((r.data?.datasets as { id: string; evaluable: boolean }[]).map((d) => [d.id, d]));
    expect(byId.get(sftId)?.evaluable).toBe(true);
    expect(byId.get(prefId)?.evaluable).toBe(false);
    expect(errorCode(await create({ datasetId: prefId }))).toBe('BAD_USER_INPUT');
  });

  it('rejects bad input with BAD_USER_INPUT naming the field, and stores nothing', async () => {
    const before = await rows();
    const none = await insertTrainingJob(api.app.db, { projectId, baseModelId: modelId, datasetId: sftId });
    const other = await insertTrainingJob(api.app.db, {
      projectId,
      baseModelId: otherModelId,
      datasetId: sftId,
      checkpoints: [{ step: 1, path: '/ckpt/o' }],
    });
    const reward = await insertTrainingJob(api.app.db, {
      projectId,
      baseModelId: modelId,
      datasetId: prefId,
      method: 'REWARD_MODEL',
      checkpoints: [{ step: 1, path: '/ckpt/rm' }],
    });
    const cases: [Record<string, unknown>, string[], RegExp][] = [
      [{ name: '  ' }, ['input', 'name'], /1 to 200/],
      [{ baseModelId: '00000000-0000-0000-0000-000000000000' }, ['input', 'baseModelId'], /no model/],
      [{ datasetId: 'nope' }, ['input', 'datasetId'], /no dataset/],
      [{ datasetId: prefId }, ['input', 'datasetId'], /SFT dataset/],
      [{ maxNewTokens: 0 }, ['input', 'maxNewTokens'], /\[1, /],
      [{ maxNewTokens: 5000 }, ['input', 'maxNewTokens'], /\[1, /],
      [{ temperature: -1 }, ['input', 'temperature'], /\[0, 10\]/],
      [{ topP: 0 }, ['input', 'topP'], /\(0, 1\]/],
      [{ batchSize: 1000 }, ['input', 'batchSize'], /\[1, 256\]/],
      [{ seed: -3 }, ['input', 'seed'], /integer/],
      [{ stopwords: 'CUSTOM' }, ['input', 'customStopwords'], /CUSTOM needs/],
      [{ customStopwords: ['the'] }, ['input', 'customStopwords'], /need stopwords CUSTOM/],
      [{ trainingJobId: 'x' }, ['input', 'trainingJobId'], /no training job/],
      [{ trainingJobId: none.id }, ['input', 'trainingJobId'], /no checkpoint yet/],
      [{ trainingJobId: other.id }, ['input', 'trainingJobId'], /trains model/],
      [{ trainingJobId: reward.id }, ['input', 'trainingJobId'], /REWARD_MODEL, which does not generate/],
      [{ checkpointId: '00000000-0000-0000-0000-000000000000' }, ['input', 'checkpointId'], /no checkpoint/],
      [
        { trainingJobId: none.id, checkpointId: other.checkpoints[0] },
        ['input', 'checkpointId'],
        /is not one of/,
      ],
    ];
    for (const [over, path, message] of cases) {
      const result = await create(over);
      expect({ over, code: errorCode(result), path: result.errors?.[0].extensions?.path }).toEqual({
        over,
        code: 'BAD_USER_INPUT',
        path,
      });
      expect(result.errors?.[0].message).toMatch(message);
    }
    expect(await rows()).toBe(before);
  });

  it('takes checkpoints of the methods trainingMethods says generate, and refuses the others (evaluation, generation)', async () => {
    const r = await api.admin(`{ trainingMethods { method generates } }`);
    expect(r.errors).toBeUndefined();
    const infos = r.data?.trainingMethods as { method: string; generates: boolean }[];
    // A reward model's head scores; it does not generate.
    expect(Object.fromEntries(infos.map((m) => [m.method, m.generates]))).toEqual({
      SFT: true,
      REWARD_MODEL: false,
      DPO: true,
      RL: true,
    });
    const generate = (over: Record<string, unknown>) =>
      api.admin(`mutation($input: CreateGenerationInput!) { createGeneration(input: $input) { id } }`, {
        input: { baseModelId: modelId, prompt: 'hello', ...over },
      });
    for (const { method, generates } of infos) {
      const job = await insertTrainingJob(api.app.db, {
        projectId,
        baseModelId: modelId,
        datasetId: method === 'SFT' ? sftId : prefId,
        method,
        checkpoints: [{ step: 1, path: `/ckpt/${method}` }],
      });
      for (const over of [{ trainingJobId: job.id }, { checkpointId: job.checkpoints[0] }]) {
        for (const result of [await create(over), await generate(over)]) {
          const field = Object.keys(over)[0];
          if (generates) {
            expect({ method, over, errors: result.errors }).toEqual({ method, over, errors: undefined });
          } else {
            expect({ method, over, extensions: result.errors?.[0].extensions }).toMatchObject({
              method,
              over,
              extensions: { code: 'BAD_USER_INPUT', path: ['input', field] },
            });
            expect(result.errors?.[0].message).toMatch(`trains a ${method}, which does not generate text`);
          }
        }
      }
    }
  });

  it("refuses an evaluation whose memory estimate exceeds the workers' budget, stating both and what fits", async () => {
    const before = await rows();
    process.env.WHETSTONE_MEMORY_BUDGET = '250MiB';
    try {
      // 8 rows of about 24 tokens with room for 2,000 new ones: the KV cache and the prefill's scores grow.
      const r = await create({ maxNewTokens: 2000 });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
        path: ['input', 'batchSize'],
      });
      const message = r.errors?.[0].message ?? '';
      expect(message).toMatch(
        /^this evaluation needs an estimated 0\.\d GiB of memory \(batch 8 x 32 prompt \+ 2000 new tokens: weights .*\), more than the worker's budget of 0\.2 GiB; lower it: batchSize \d, or maxNewTokens \d+$/,
      );
      expect(await rows()).toBe(before);
      // What it suggests fits.
      const batchSize = Number(/batchSize (\d+)/.exec(message)![1]);
      const maxNewTokens = Number(/maxNewTokens (\d+)$/.exec(message)![1]);
      expect((await create({ maxNewTokens: 2000, batchSize })).errors).toBeUndefined();
      expect((await create({ maxNewTokens })).errors).toBeUndefined();
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
    // Under the default budget (the memory available) the same evaluation is accepted.
    expect((await create({ maxNewTokens: 2000 })).errors).toBeUndefined();
  });

  it("counts a LoRA checkpoint's adapter in the estimate", async () => {
    const lora = (loraRank: number) =>
      insertTrainingJob(api.app.db, {
        projectId,
        baseModelId: modelId,
        datasetId: sftId,
        hyperparameters: { loraRank, loraTargets: 'all-linear' },
        checkpoints: [{ step: 4, path: `/ckpt/lora-r${loraRank}` }],
      });
    const [small, large] = [await lora(8), await lora(4096)];
    const before = await rows();
    process.env.WHETSTONE_MEMORY_BUDGET = '250MiB';
    try {
      // Rank 4,096 on every linear layer: 14.7M float32 adapter values, held by the host and each session.
      const r = await create({ trainingJobId: large.id });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
      });
      expect(r.errors?.[0].message).toMatch(/weights 0\.2 GiB.*more than the worker's budget of 0\.2 GiB/);
      expect(await rows()).toBe(before);
      expect((await create({ trainingJobId: small.id })).errors).toBeUndefined();
      expect((await create()).errors).toBeUndefined();
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
  });

  it("refuses a GPU evaluation whose estimate exceeds the device's memory (WHETSTONE_GPU_MEMORY), not a CPU one", async () => {
    const before = await rows();
    process.env.WHETSTONE_GPU_MEMORY = '100MiB';
    try {
      const r = await create({ executionProvider: 'WEBGPU' });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
      });
      expect(r.errors?.[0].message).toMatch(
        /than the device memory of WHETSTONE_GPU_MEMORY \(webgpu\) of 0\.1 GiB/,
      );
      expect(await rows()).toBe(before);
      expect((await create()).errors).toBeUndefined();
    } finally {
      delete process.env.WHETSTONE_GPU_MEMORY;
    }
  });

  it('keeps projects apart: another project cannot see, use or cancel them', async () => {
    const job = (await create()).data?.createEvaluationJob;
    expect(errorCode(await teamB(EVALUATION, { id: job.id }))).toBe('NOT_FOUND');
    expect(errorCode(await teamB(CANCEL, { id: job.id }))).toBe('NOT_FOUND');
    const foreign = await create({}, teamB);
    expect(foreign.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['input', 'baseModelId'],
    });
  });

  it('cancels a queued evaluation at once; cancelling again answers the same; a finished one is a CONFLICT', async () => {
    const job = (await create()).data?.createEvaluationJob;
    expect((await api.admin(CANCEL, { id: job.id })).data?.cancelEvaluationJob).toEqual({
      id: job.id,
      status: 'CANCELLED',
      cancelRequested: false,
    });
    expect((await api.admin(CANCEL, { id: job.id })).data?.cancelEvaluationJob.status).toBe('CANCELLED');
    const done = (await create()).data?.createEvaluationJob;
    await api.app.db.query(`UPDATE evaluation_jobs SET status = 'SUCCEEDED' WHERE id = $1`, [done.id]);
    expect(errorCode(await api.admin(CANCEL, { id: done.id }))).toBe('CONFLICT');
  });

  it('asks a running evaluation to stop', async () => {
    const job = (await create()).data?.createEvaluationJob;
    await api.app.db.query(`UPDATE evaluation_jobs SET status = 'RUNNING' WHERE id = $1`, [job.id]);
    expect((await api.admin(CANCEL, { id: job.id })).data?.cancelEvaluationJob).toEqual({
      id: job.id,
      status: 'RUNNING',
      cancelRequested: true,
    });
  });

  it('evaluates one split when asked, and refuses an empty one', async () => {
    const job = (await create({ datasetSplit: 'VALIDATION' })).data?.createEvaluationJob;
    expect(job.datasetSplit).toBe('VALIDATION');
    const noValidation = (
      await api.admin(CREATE_DATASET, { input: { name: 'all-train', kind: 'SFT', jsonl: sftJsonl(4) } })
    ).data?.createDataset.id;
    const result = await create({ datasetId: noValidation, datasetSplit: 'VALIDATION' });
    expect(result.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['input', 'datasetSplit'],
    });
  });
});
