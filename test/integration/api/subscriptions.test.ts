import Redis from 'ioredis';
import type { Client } from 'graphql-ws';
import { createApiApp } from '../../../src/api/app';
import { EventPublisher } from '../../../src/queue/publisher';
import type { StepEventPayload } from '../../../src/queue/events';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  CREATE_JOB,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { collect, wsClient } from '../support/client';

const PROGRESS = `subscription($id: ID!) {
  trainingJobProgress(jobId: $id) { kind jobId status step totalSteps epoch loss learningRate gradNorm progress error }
}`;
const STATUS = `subscription { trainingJobStatusChanged { jobId name status previousStatus } }`;

type Progress = { trainingJobProgress: { kind: string; status: string; step: number; loss: number | null } };

/**
 * The relay from Redis to WebSocket subscribers. Events are published with the worker's own publisher, as a
 * worker publishes them; training itself is covered end to end in test/e2e.
 */
describe('subscriptions relay published job events', () => {
  let api: TestApi;
  let redis: Redis;
  let publisher: EventPublisher;
  let clients: Client[] = [];
  let projectId: string;
  let jobInput: Record<string, unknown>;

  beforeAll(async () => {
    api = await startTestApi();
    redis = new Redis(api.env.config.redisUrl);
    publisher = new EventPublisher(redis, api.env.config.redisPrefix);
    const modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'm', path: demoModelDir() } })).data
      ?.registerModel.id;
    const datasetId = (
      await api.admin(CREATE_DATASET, { input: { name: 'd', kind: 'SFT', jsonl: sftJsonl(4) } })
    ).data?.createDataset.id;
    jobInput = { name: 'live', baseModelId: modelId, datasetId, method: 'SFT', parameterScale: 'LORA' };
    projectId = (await api.admin(`{ viewer { project { id } } }`)).data?.viewer.project.id;
  });
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    clients = [];
  });
  afterAll(async () => {
    await redis.quit();
    await api.close();
  });

  const client = (key = BOOTSTRAP_KEY) => {
    const c = wsClient(api.app.httpServer, `Bearer ${key}`);
    clients.push(c);
    return c;
  };
  const step = (jobId: string, n: number): StepEventPayload => ({
    type: 'step',
    jobId,
    projectId,
    epoch: 1,
    step: n,
    totalSteps: 4,
    loss: 5 - n,
    learningRate: 0.001,
    gradNorm: 1,
    tokensPerSecond: 100,
    elapsedSeconds: n,
    etaSeconds: 4 - n,
    extra: null,
    at: new Date().toISOString(),
  });
  const setStatus = async (jobId: string, status: string, previous: string) => {
    await api.app.db.query(`UPDATE training_jobs SET status = $2 WHERE id = $1`, [jobId, status]);
    await publisher.publishStatus({
      type: 'status',
      jobId,
      projectId,
      name: 'live',
      status: status as never,
      previousStatus: previous as never,
      error: null,
      at: new Date().toISOString(),
    });
  };

  it('sends the snapshot first, then every step in order and each status change, ending after the final one', async () => {
    const id = (await api.admin(CREATE_JOB, { input: jobInput })).data?.createTrainingJob.id;
    const sub = collect<Progress>(client(), PROGRESS, { id });
    await sub.waitFor(1);
    await setStatus(id, 'RUNNING', 'QUEUED');
    for (const n of [1, 2, 2, 1, 3, 4]) await publisher.publishStep(step(id, n)); // repeats are dropped
    await setStatus(id, 'SUCCEEDED', 'RUNNING');
    await setStatus(id, 'SUCCEEDED', 'RUNNING'); // after the end: not delivered
    await sub.done;
    expect(
      sub.events.map((e) => [
        e.trainingJobProgress.kind,
        e.trainingJobProgress.status,
        e.trainingJobProgress.step,
      ]),
    ).toEqual([
      ['SNAPSHOT', 'QUEUED', 0],
      ['STATUS', 'RUNNING', 0],
      ['STEP', 'RUNNING', 1],
      ['STEP', 'RUNNING', 2],
      ['STEP', 'RUNNING', 3],
      ['STEP', 'RUNNING', 4],
      ['STATUS', 'SUCCEEDED', 4],
    ]);
    expect(sub.events.slice(2, 6).map((e) => e.trainingJobProgress.loss)).toEqual([4, 3, 2, 1]);
  });

  it('brings a late snapshot up to the latest published step and ends at once for finished jobs', async () => {
    const id = (await api.admin(CREATE_JOB, { input: jobInput })).data?.createTrainingJob.id;
    await setStatus(id, 'RUNNING', 'QUEUED');
    await publisher.publishStep(step(id, 1));
    await publisher.publishStep(step(id, 2));
    const late = collect<Progress>(client(), PROGRESS, { id });
    await late.waitFor(1);
    expect(late.events[0].trainingJobProgress).toMatchObject({
      kind: 'SNAPSHOT',
      status: 'RUNNING',
      step: 2,
      loss: 3,
    });
    await setStatus(id, 'FAILED', 'RUNNING');
    await late.done;

    const after = collect<Progress>(client(), PROGRESS, { id });
    await after.done;
    expect(after.events.map((e) => e.trainingJobProgress.kind)).toEqual(['SNAPSHOT']);
    expect(after.events[0].trainingJobProgress.status).toBe('FAILED');
  });

  it("streams status changes of the caller's project only, and refuses other projects' jobs", async () => {
    const made = await api.admin(
      `mutation { createProject(input: { name: "other" }) { adminKey { secret } } }`,
    );
    const otherKey = made.data?.createProject.adminKey.secret;
    const mine = collect<{ trainingJobStatusChanged: { status: string; previousStatus: string | null } }>(
      client(),
      STATUS,
      {},
    );
    const theirs = collect<unknown>(client(otherKey), STATUS, {});
    await new Promise((r) => setTimeout(r, 200)); // both subscriptions registered
    const id = (await api.admin(CREATE_JOB, { input: jobInput })).data?.createTrainingJob.id;
    await api.admin(`mutation($id: ID!) { cancelTrainingJob(id: $id) { status } }`, { id });
    await mine.waitFor(2);
    expect(mine.events.map((e) => e.trainingJobStatusChanged)).toEqual([
      { jobId: id, name: 'live', status: 'QUEUED', previousStatus: null },
      { jobId: id, name: 'live', status: 'CANCELLED', previousStatus: 'QUEUED' },
    ]);
    expect(theirs.events).toEqual([]);

    const denied = collect<unknown>(client(otherKey), PROGRESS, { id });
    await denied.done;
    expect(denied.events).toEqual([]);
    expect(denied.error).toEqual([expect.objectContaining({ extensions: { code: 'NOT_FOUND' } })]);
  });

  it('relays to a subscriber on one API replica the status change made through another', async () => {
    const replica = await createApiApp(api.env.config);
    await replica.listen();
    const c = wsClient(replica.httpServer, `Bearer ${BOOTSTRAP_KEY}`);
    try {
      const id = (await api.admin(CREATE_JOB, { input: jobInput })).data?.createTrainingJob.id;
      const onReplica = collect<Progress>(c, PROGRESS, { id });
      await onReplica.waitFor(1);
      await api.admin(`mutation($id: ID!) { cancelTrainingJob(id: $id) { status } }`, { id });
      await onReplica.done;
      expect(onReplica.events.map((e) => e.trainingJobProgress.status)).toEqual(['QUEUED', 'CANCELLED']);
    } finally {
      await c.dispose();
      await replica.close();
    }
  });
});
