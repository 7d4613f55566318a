/**
 * Generations through the `generation` queue's handler on the real engine (demo model, a child process): the
 * stream's pieces are the text as decoded, joined equal to the final text and to an in-process generation; a late
 * subscriber gets what it missed; the chat template; cancellation; a run preempted by shutdown, or whose process
 * was killed, continues after the tokens it handed out and the stream goes on where it was; bad input and other
 * projects are refused.
 */
import type Bull from 'bull';
import type { Client } from 'graphql-ws';
import Redis from 'ioredis';
import { decodeText, Generator } from '../../../src/models/generate';
import { loadModel } from '../../../src/models/model';
import { EventPublisher } from '../../../src/queue/publisher';
import type { JobQueuePayload } from '../../../src/queue/queues';
import { runGeneration } from '../../../src/worker/generation/generate';
import { generationJobs } from '../../../src/worker/generation/job';
import { JobRunner, PreemptedError, RetryError } from '../../../src/worker/job-runner';
import { BOOTSTRAP_KEY, demoModelDir, REGISTER_MODEL, startTestApi, TestApi } from '../support/api';
import { collect, errorCode, Gql, wsClient } from '../support/client';

const FIELDS = `id status modelKind prompt chatTemplate maxNewTokens temperature topP seed text promptTokens
  generatedTokens finishReason error baseModel { id } trainingJob { id } checkpoint { id }`;
const CREATE = `mutation($input: CreateGenerationInput!) { createGeneration(input: $input) { ${FIELDS} } }`;
const GET = `query($id: ID!) { generation(id: $id) { ${FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelGeneration(id: $id) { ${FIELDS} } }`;
const STREAM = `subscription($id: ID!) {
  generationStream(id: $id) { kind generationId status index text generatedTokens finishReason error }
}`;

interface StreamEvent {
  kind: 'DELTA' | 'FINAL';
  status: string;
  index: number | null;
  text: string;
  generatedTokens: number;
  finishReason: string | null;
  error: string | null;
}

describe('generations (real engine, demo model)', () => {
  let api: TestApi;
  let redis: Redis;
  let handler: JobRunner<'generation', unknown, never>;
  let modelDir: string;
  let modelId: string;
  let projectId: string;
  let teamB: Gql;
  let teamBKey: string;
  const clients: Client[] = [];
  const cancels = new Map<string, () => void>();
  let runnerPid = 0;

  beforeAll(async () => {
    api = await startTestApi();
    redis = new Redis(api.env.config.redisUrl);
    const publisher = new EventPublisher(redis, api.env.config.redisPrefix);
    handler = new JobRunner(generationJobs({ db: api.app.db, publisher }), {
      db: api.app.db,
      workerId: 'test-worker',
      maxAttempts: 3,
      onCancel: (jobId, cb) => {
        cancels.set(jobId, cb);
        return () => cancels.delete(jobId);
      },
      log: (m: string) => {
        const pid = m.match(/running in process (\d+)/)?.[1];
        if (pid) runnerPid = Number(pid);
      },
    });
    modelDir = demoModelDir();
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } })).data
      ?.registerModel.id;
    projectId = (await api.admin(`{ viewer { project { id } } }`)).data?.viewer.project.id;
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { adminKey { secret } } }`,
    );
    teamBKey = made.data?.createProject.adminKey.secret;
    teamB = api.as(teamBKey);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });
  afterAll(async () => {
    await redis.quit();
    await api.close();
  });

  const create = async (over: Record<string, unknown> = {}) => {
    const r = await api.admin(CREATE, {
      input: { baseModelId: modelId, prompt: 'Hello, wor', maxNewTokens: 24, ...over },
    });
    expect(r.errors).toBeUndefined();
    return r.data?.createGeneration as { id: string; status: string };
  };
  const handle = (jobId: string) =>
    handler.handle({ data: { jobId, projectId } } as Bull.Job<JobQueuePayload>);
  const subscribe = (id: string, key = BOOTSTRAP_KEY) => {
    const client = wsClient(api.app.httpServer, `Bearer ${key}`);
    clients.push(client);
    return collect<{ generationStream: StreamEvent }>(client, STREAM, { id });
  };
  const events = (sub: { events: { generationStream: StreamEvent }[] }) =>
    sub.events.map((e) => e.generationStream);

  /** What the demo model generates for `prompt` in this process. */
  const inProcess = async (
    prompt: string,
    maxNewTokens: number,
    sampling?: { temperature: number; topP: number; seed: number },
  ) => {
    const model = await loadModel(modelDir);
    const generator = new Generator(model);
    try {
      const { generated } = await generator.generate({
        prompts: [model.tokenizer.encode(prompt)],
        maxNewTokens,
        sampling,
      });
      return decodeText(model, generated[0]);
    } finally {
      await generator.release();
    }
  };

  it('streams the text piece by piece on a worker, then the whole text; the pieces joined are that text', async () => {
    const g = await create({ temperature: 0.8, topP: 0.9, seed: 7 });
    expect(g.status).toBe('QUEUED');
    const sub = subscribe(g.id);
    await handle(g.id);
    await sub.done;
    const all = events(sub);
    const deltas = all.filter((e) => e.kind === 'DELTA');
    const final = all[all.length - 1];
    expect(all.filter((e) => e.kind === 'FINAL')).toEqual([final]);
    expect(deltas.map((e) => e.index)).toEqual(deltas.map((_, i) => i));
    expect(deltas.every((e) => e.status === 'RUNNING')).toBe(true);
    expect(final).toMatchObject({ status: 'SUCCEEDED', index: null, error: null });
    expect(deltas.map((e) => e.text).join('')).toBe(final.text);
    expect(final.text).toBe(await inProcess('Hello, wor', 24, { temperature: 0.8, topP: 0.9, seed: 7 }));
    const stored = (await api.admin(GET, { id: g.id })).data?.generation;
    expect(stored).toMatchObject({
      status: 'SUCCEEDED',
      modelKind: 'BASE',
      text: final.text,
      promptTokens: 'Hello, wor'.length + 1, // BOS + one token per byte
      generatedTokens: final.generatedTokens,
      baseModel: { id: modelId },
      trainingJob: null,
    });
    expect(stored.finishReason).toBe(final.generatedTokens === 24 ? 'MAX_NEW_TOKENS' : 'END_OF_SEQUENCE');
  });

  it('gives a late subscriber the pieces it missed, and a finished generation only its end', async () => {
    const g = await create({ maxNewTokens: 16 });
    await handle(g.id);
    const sub = subscribe(g.id);
    await sub.done;
    expect(events(sub)).toEqual([
      expect.objectContaining({
        kind: 'FINAL',
        status: 'SUCCEEDED',
        text: await inProcess('Hello, wor', 16),
      }),
    ]);
  });

  it('renders the prompt with the model’s chat template when asked', async () => {
    const g = await create({ prompt: 'hi', chatTemplate: true, maxNewTokens: 4 });
    await handle(g.id);
    const stored = (await api.admin(GET, { id: g.id })).data?.generation;
    // <|user|>hi</s><|assistant|>: one token per byte, </s> a special token, no BOS in the template.
    expect(stored).toMatchObject({ status: 'SUCCEEDED', chatTemplate: true, promptTokens: 8 + 2 + 1 + 13 });
  });

  it('cancels a queued generation at once and a running one after its current token, keeping the text', async () => {
    const queued = await create();
    const cancelled = (await api.admin(CANCEL, { id: queued.id })).data?.cancelGeneration;
    expect(cancelled).toMatchObject({ status: 'CANCELLED', finishReason: null, text: null });
    await handle(queued.id); // the queue's entry finds nothing to do
    expect((await api.admin(GET, { id: queued.id })).data?.generation.status).toBe('CANCELLED');

    // Greedy decoding of the random demo model loops without an end-of-sequence token.
    const g = await create({ maxNewTokens: 1024 });
    const sub = subscribe(g.id);
    const running = handle(g.id);
    await sub.waitFor(2);
    expect((await api.admin(CANCEL, { id: g.id })).data?.cancelGeneration.status).toBe('RUNNING');
    cancels.get(g.id)?.(); // what the worker's cancel channel does
    await running;
    await sub.done;
    const final = events(sub).at(-1)!;
    expect(final).toMatchObject({ kind: 'FINAL', status: 'CANCELLED', finishReason: 'CANCELLED' });
    expect(final.generatedTokens).toBeLessThan(1024);
    expect(final.text).toBe(
      events(sub)
        .filter((e) => e.kind === 'DELTA')
        .map((e) => e.text)
        .join(''),
    );
    expect(errorCode(await api.admin(CANCEL, { id: g.id }))).toBeUndefined(); // CANCELLED stays CANCELLED
  });

  /** The stored tokens and text of a generation. */
  const progress = async (id: string) =>
    (await api.app.db.query(`SELECT generated_ids, text FROM generations WHERE id = $1`, [id]))[0] as {
      generated_ids: number[];
      text: string | null;
    };
  /** Every piece published for a generation (the Redis list late subscribers read), in order. */
  const published = async (id: string) =>
    new EventPublisher(redis, api.env.config.redisPrefix).generationDeltas(id);

  it('continues after a shutdown from the tokens it handed out, with the uninterrupted text; a listening stream gets every piece once', async () => {
    const g = await create({ maxNewTokens: 48, temperature: 0.9, topP: 0.95, seed: 11 });
    const sub = subscribe(g.id);
    const first = handle(g.id);
    await sub.waitFor(3);
    handler.activeRuns().forEach((r) => r.stop('shutdown'));
    await expect(first).rejects.toBeInstanceOf(PreemptedError);
    const paused = (await api.admin(GET, { id: g.id })).data?.generation;
    expect(paused).toMatchObject({ status: 'QUEUED', text: null });
    const kept = await published(g.id);
    expect((await progress(g.id)).generated_ids).toHaveLength(kept.at(-1)!.generatedTokens);
    await handle(g.id);
    await sub.done;
    const all = events(sub);
    const deltas = all.filter((e) => e.kind === 'DELTA');
    expect(deltas.map((e) => e.index)).toEqual(deltas.map((_, i) => i));
    const final = all.at(-1)!;
    expect(final).toMatchObject({ kind: 'FINAL', status: 'SUCCEEDED' });
    expect(deltas.map((e) => e.text).join('')).toBe(final.text);
    // What the first run handed out is the start of the text, published once.
    expect(final.text.startsWith(kept.map((d) => d.text).join(''))).toBe(true);
    // Sampled: the rest continues the seed's draws, so the text is the uninterrupted run's.
    expect(final.text).toBe(await inProcess('Hello, wor', 48, { temperature: 0.9, topP: 0.95, seed: 11 }));
    expect((await published(g.id)).map((d) => d.index)).toEqual(deltas.map((_, i) => i));
    expect(final.generatedTokens).toBe((await progress(g.id)).generated_ids.length);
  });

  it('retries a killed generation process, which keeps the tokens handed out and generates only the rest', async () => {
    const g = await create({ maxNewTokens: 64 });
    const sub = subscribe(g.id);
    const first = handle(g.id);
    await sub.waitFor(6);
    process.kill(runnerPid, 'SIGKILL');
    // The class and message together, so that a failure says what the run ended with instead.
    const ended = await first.then(
      () => ({ kind: 'resolved', message: '' }),
      (e: Error) => ({ kind: e.constructor.name, message: e.message }),
    );
    expect(ended).toMatchObject({ kind: RetryError.name });
    const before = await progress(g.id);
    const kept = await published(g.id);
    expect(kept.length).toBeGreaterThanOrEqual(5);
    expect(before.generated_ids).toHaveLength(kept.at(-1)!.generatedTokens);
    expect(before.generated_ids.length).toBeLessThan(64);

    await handle(g.id);
    await sub.done;
    const deltas = events(sub).filter((e) => e.kind === 'DELTA');
    const final = events(sub).at(-1)!;
    expect(final).toMatchObject({ kind: 'FINAL', status: 'SUCCEEDED', generatedTokens: 64 });
    // Greedy: the text an uninterrupted run gives, the killed run's pieces first, every piece published once.
    expect(final.text).toBe(await inProcess('Hello, wor', 64));
    expect(deltas.map((e) => e.text).join('')).toBe(final.text);
    const all = await published(g.id);
    expect(all.map((d) => d.index)).toEqual(all.map((_, i) => i));
    expect(all.slice(0, kept.length)).toEqual(kept);
    const after = await progress(g.id);
    expect(after.generated_ids.slice(0, before.generated_ids.length)).toEqual(before.generated_ids);
    const attempts = await api.admin(
      `query($id: ID!) { generation(id: $id) { attemptHistory { outcome cause } } }`,
      {
        id: g.id,
      },
    );
    expect(attempts.data?.generation.attemptHistory).toEqual([
      { outcome: 'CRASHED', cause: expect.stringMatching(/generation process was killed \(SIGKILL/) },
      { outcome: 'SUCCEEDED', cause: null },
    ]);
  });

  it('fails with the reason when the prompt does not fit the model', async () => {
    // Creation refuses such a prompt (test/integration/api/trust.test.ts); the worker checks it again.
    const g = await create({ maxNewTokens: 16 });
    await api.app.db.query(`UPDATE generations SET prompt = $2 WHERE id = $1`, [g.id, 'x'.repeat(2040)]);
    const sub = subscribe(g.id);
    await handle(g.id);
    await sub.done;
    expect(events(sub).at(-1)).toMatchObject({
      kind: 'FINAL',
      status: 'FAILED',
      text: '',
      error: expect.stringMatching(/does not fit with maxNewTokens 16/),
    });
  });

  it("refuses a generation over the workers' memory budget; a worker with less fails it before any work", async () => {
    const count = async () => (await api.app.db.query(`SELECT count(*)::int AS n FROM generations`))[0].n;
    const before = await count();
    process.env.WHETSTONE_MEMORY_BUDGET = '208MiB';
    let fitting = 0;
    try {
      const r = await api.admin(CREATE, { input: { baseModelId: modelId, prompt: 'p', maxNewTokens: 2000 } });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
        path: ['input', 'maxNewTokens'],
      });
      const message = r.errors?.[0].message ?? '';
      expect(message).toMatch(
        /^this generation needs an estimated 0\.2 GiB of memory \(batch 1 x \d+ prompt \+ 2000 new tokens: .*\), more than the worker's budget of 0\.2 GiB; lower it: maxNewTokens \d+$/,
      );
      expect(await count()).toBe(before);
      fitting = Number(/maxNewTokens (\d+)$/.exec(message)![1]);
      expect(fitting).toBeLessThan(2000);
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
    // A worker with a lower budget fails it before any work, with the same message (the job runner forwards a
    // child's UserInputError as the job's error; jest keeps this process.env from the children it forks).
    let started = false;
    process.env.WHETSTONE_MEMORY_BUDGET = '100MiB';
    try {
      const run = runGeneration(
        {
          modelPath: modelDir,
          adapterPath: null,
          prompt: 'p',
          chatTemplate: false,
          maxNewTokens: fitting,
          temperature: 0,
          topP: 1,
          seed: 0,
          executionProvider: 'cpu',
          kept: [],
        },
        { onStart: () => void (started = true), onText: () => undefined, shouldStop: () => false },
      );
      await expect(run).rejects.toMatchObject({
        code: 'MEMORY_BUDGET_EXCEEDED',
        message: expect.stringMatching(
          /^this generation needs an estimated 0\.2 GiB of memory .* budget of 0\.1 GiB; no maxNewTokens fits/,
        ),
      });
    } finally {
      delete process.env.WHETSTONE_MEMORY_BUDGET;
    }
    expect(started).toBe(false);
  });

  it("refuses a GPU generation over the device's memory (WHETSTONE_GPU_MEMORY), at creation and in the worker", async () => {
    const count = async () => (await api.app.db.query(`SELECT count(*)::int AS n FROM generations`))[0].n;
    const before = await count();
    const device = /than the device memory of WHETSTONE_GPU_MEMORY \(webgpu\) of 0\.1 GiB/;
    process.env.WHETSTONE_GPU_MEMORY = '100MiB';
    try {
      const input = { baseModelId: modelId, prompt: 'p', maxNewTokens: 16 };
      const r = await api.admin(CREATE, { input: { ...input, executionProvider: 'WEBGPU' } });
      expect(r.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'MEMORY_BUDGET_EXCEEDED',
      });
      expect(r.errors?.[0].message).toMatch(device);
      expect(await count()).toBe(before);
      expect((await api.admin(CREATE, { input })).errors).toBeUndefined();
      // The worker checks before it generates (no device is asked for).
      const run = runGeneration(
        {
          modelPath: modelDir,
          adapterPath: null,
          prompt: 'p',
          chatTemplate: false,
          maxNewTokens: 16,
          temperature: 0,
          topP: 1,
          seed: 0,
          executionProvider: 'webgpu',
          kept: [],
        },
        { onStart: () => undefined, onText: () => undefined, shouldStop: () => false },
      );
      await expect(run).rejects.toMatchObject({
        code: 'MEMORY_BUDGET_EXCEEDED',
        message: expect.stringMatching(device),
      });
    } finally {
      delete process.env.WHETSTONE_GPU_MEMORY;
    }
  });

  it('refuses bad input with the field, storing nothing', async () => {
    const bad = async (over: Record<string, unknown>) => {
      const r = await api.admin(CREATE, { input: { baseModelId: modelId, prompt: 'p', ...over } });
      expect(r.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      return r.errors?.[0].extensions?.path;
    };
    const before = await api.app.db.query(`SELECT count(*)::int AS n FROM generations`);
    expect(await bad({ prompt: '' })).toEqual(['input', 'prompt']);
    expect(await bad({ prompt: 'a\u0000b' })).toEqual(['input', 'prompt']);
    expect(await bad({ maxNewTokens: 0 })).toEqual(['input', 'maxNewTokens']);
    expect(await bad({ maxNewTokens: 5000 })).toEqual(['input', 'maxNewTokens']);
    expect(await bad({ temperature: -1 })).toEqual(['input', 'temperature']);
    expect(await bad({ topP: 0 })).toEqual(['input', 'topP']);
    expect(await bad({ baseModelId: '00000000-0000-0000-0000-000000000000' })).toEqual([
      'input',
      'baseModelId',
    ]);
    expect(await bad({ trainingJobId: 'nope' })).toEqual(['input', 'trainingJobId']);
    expect(await api.app.db.query(`SELECT count(*)::int AS n FROM generations`)).toEqual(before);
  });

  it('keeps generations inside their project', async () => {
    const g = await create({ maxNewTokens: 2 });
    expect(errorCode(await teamB(GET, { id: g.id }))).toBe('NOT_FOUND');
    expect(errorCode(await teamB(CANCEL, { id: g.id }))).toBe('NOT_FOUND');
    expect(errorCode(await teamB(CREATE, { input: { baseModelId: modelId, prompt: 'p' } }))).toBe(
      'BAD_USER_INPUT',
    );
    const sub = subscribe(g.id, teamBKey);
    await sub.done.catch(() => undefined);
    expect(JSON.stringify(sub.error)).toMatch(/NOT_FOUND/);
    expect(sub.events).toEqual([]);
  });
});
