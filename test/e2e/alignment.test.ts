/**
 * Alignment end to end over HTTP and WebSocket with a worker process and the real engine on a small demo model:
 * a REWARD_MODEL job on a PREFERENCE dataset, then an RL job on a PROMPT_ONLY dataset scored by it, both SUCCEEDED
 * with their method's metrics in the progress stream and in the stored step series. An RL job naming an unfinished
 * reward model, another project's, or none is refused with BAD_USER_INPUT at input.rewardModelJobId.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import { TrainingJobEntity } from '../../src/db/entities';
import { writeDemoModel } from '../../src/models/demo';
import { planRun } from '../../src/worker/training/job-spec';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  REGISTER_MODEL,
  startTestApi,
  TestApi,
} from '../integration/support/api';
import { collect, errorCode, Gql, GqlResult, wsClient } from '../integration/support/client';
import { startWorkerProcess, WorkerProcess } from '../integration/support/worker-process';

const CREATE = `mutation($input: CreateTrainingJobInput!) {
  createTrainingJob(input: $input) {
    id status method rewardModelJobId
    hyperparameters { beta numGenerations maxNewTokens temperature topP klCoef clipEpsilon rlEpochs }
  }
}`;
const PROGRESS = `subscription($id: ID!) {
  trainingJobProgress(jobId: $id) { kind status step totalSteps loss extra error }
}`;
const JOB = `query($id: ID!) {
  trainingJob(id: $id) { status step totalSteps error rewardModelJobId metrics { step loss extra } checkpoints { step path } }
}`;

interface ProgressEvent {
  kind: 'SNAPSHOT' | 'STEP' | 'STATUS';
  status: string;
  step: number;
  loss: number | null;
  extra: Record<string, number> | null;
  error: string | null;
}
type Progress = { trainingJobProgress: ProgressEvent };

const PREFERENCE = [
  { prompt: 'Sky?', chosen: ' Blue.', rejected: ' I do not know.' },
  { prompt: '2+2?', chosen: ' 4.', rejected: ' I do not know.' },
  { prompt: 'Opposite of up?', chosen: ' Down.', rejected: ' I do not know.' },
  { prompt: 'Hi', chosen: ' Hello!', rejected: ' I do not know.' },
];
const PROMPTS = [{ prompt: 'Sky?' }, { prompt: 'Up?' }, { prompt: '2+2?' }];
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n');

const RM_METRICS = ['accuracy', 'margin'];
const RL_METRICS = ['clipFraction', 'completionLength', 'kl', 'rewardMean', 'rewardStd'];

jest.setTimeout(240_000);

describe('alignment end to end', () => {
  let api: TestApi;
  let worker: WorkerProcess | null = null;
  const clients: Client[] = [];
  let modelDir: string;
  let own: Awaited<ReturnType<typeof setUp>>;

  beforeAll(async () => {
    api = await startTestApi({ WHETSTONE_METRICS_FLUSH_MS: '100', WHETSTONE_METRICS_BATCH: '5' });
    // Smaller than the default demo model so that sampling and scoring stay fast on CPUs.
    modelDir = mkdtempSync(path.join(os.tmpdir(), 'whetstone-align-model-'));
    writeDemoModel(modelDir, {
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
      numKeyValueHeads: 1,
      intermediateSize: 64,
    });
    own = await setUp(api.admin);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    if (worker && worker.child.exitCode === null) await worker.stop();
    await api.close();
  });

  /** The project's model and datasets, registered through the API with `gql`. */
  const setUp = async (gql: Gql) => {
    const model = await gql(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } });
    const dataset = async (name: string, kind: string, rows: object[]) =>
      (await gql(CREATE_DATASET, { input: { name, kind, jsonl: jsonl(rows) } })).data?.createDataset
        .id as string;
    return {
      modelId: model.data?.registerModel.id as string,
      preferenceId: await dataset('pref', 'PREFERENCE', PREFERENCE),
      promptsId: await dataset('prompts', 'PROMPT_ONLY', PROMPTS),
    };
  };
  const create = (gql: Gql, input: Record<string, unknown>) =>
    gql(CREATE, { input: { name: String(input.method).toLowerCase(), ...input } });
  const rlInput = (p: { modelId: string; promptsId: string }, rewardModelJobId?: string) => ({
    method: 'RL',
    parameterScale: 'FULL',
    baseModelId: p.modelId,
    datasetId: p.promptsId,
    hyperparameters: {
      epochs: 1,
      batchSize: 2,
      learningRate: 0.001,
      numGenerations: 3,
      maxNewTokens: 4,
      rlEpochs: 2,
      klCoef: 0.1,
      maxSequenceLength: 64,
    },
    ...(rewardModelJobId ? { rewardModelJobId } : {}),
  });
  const refused = (r: GqlResult, message: RegExp) => {
    expect(errorCode(r)).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0].extensions?.path).toEqual(['input', 'rewardModelJobId']);
    expect(r.errors?.[0].message).toMatch(message);
  };
  const subscribe = (id: string) => {
    const client = wsClient(api.app.httpServer, `Bearer ${BOOTSTRAP_KEY}`);
    clients.push(client);
    return collect<Progress>(client, PROGRESS, { id });
  };
  /** Waits for the job to end; its events and stored row, after checking both carry `metrics` on every step. */
  const finished = async (id: string, sub: ReturnType<typeof subscribe>, metrics: string[]) => {
    await sub.done;
    const events = sub.events.map((e) => e.trainingJobProgress);
    expect(events[events.length - 1]).toMatchObject({ kind: 'STATUS', status: 'SUCCEEDED', error: null });
    const steps = events.filter((e) => e.kind === 'STEP');
    expect(steps.length).toBeGreaterThan(0);
    for (const s of steps) {
      expect(Object.keys(s.extra ?? {}).sort()).toEqual(metrics);
      for (const name of metrics) expect(Number.isFinite(s.extra![name])).toBe(true);
    }
    const job = (await api.admin(JOB, { id })).data?.trainingJob;
    expect(job).toMatchObject({ status: 'SUCCEEDED', step: steps.length, totalSteps: steps.length });
    // The stored series is the streamed one, method metrics included.
    expect(job.metrics).toEqual(steps.map((s) => ({ step: s.step, loss: s.loss, extra: s.extra })));
    return { steps, job };
  };

  it('trains a reward model, then RL scored by it; refuses unfinished, foreign and missing reward models', async () => {
    const rm = await create(api.admin, {
      method: 'REWARD_MODEL',
      parameterScale: 'LORA',
      baseModelId: own.modelId,
      datasetId: own.preferenceId,
      hyperparameters: { epochs: 4, batchSize: 2, learningRate: 0.01, maxSequenceLength: 64 },
    });
    expect(rm.errors).toBeUndefined();
    const rmId = rm.data?.createTrainingJob.id as string;
    expect(rm.data?.createTrainingJob).toMatchObject({ status: 'QUEUED', rewardModelJobId: null });

    // No worker yet: the reward model is QUEUED, so an RL job cannot use it.
    refused(await create(api.admin, rlInput(own, rmId)), /QUEUED; RL needs a SUCCEEDED one/);
    refused(await create(api.admin, rlInput(own)), /method RL needs rewardModelJobId/);

    const rmProgress = subscribe(rmId);
    await rmProgress.waitFor(1);
    worker = await startWorkerProcess(api.env.env);
    const rmRun = await finished(rmId, rmProgress, RM_METRICS);
    expect(rmRun.steps).toHaveLength(8); // 4 rows / batch 2 x 4 epochs
    expect(rmRun.steps[7].loss).toBeLessThan(rmRun.steps[0].loss as number);

    // Another project sees the finished reward model as absent.
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { adminKey { secret } } }`,
    );
    const teamB = api.as(made.data?.createProject.adminKey.secret);
    refused(await create(teamB, rlInput(await setUp(teamB), rmId)), /no training job .* in this project/);

    const rl = await create(api.admin, rlInput(own, rmId));
    expect(rl.errors).toBeUndefined();
    expect(rl.data?.createTrainingJob).toMatchObject({
      method: 'RL',
      rewardModelJobId: rmId,
      hyperparameters: {
        beta: null, // DPO only
        numGenerations: 3,
        maxNewTokens: 4,
        temperature: 1,
        topP: 1,
        klCoef: 0.1,
        clipEpsilon: 0.2,
        rlEpochs: 2,
      },
    });
    const rlId = rl.data?.createTrainingJob.id as string;
    const rlRun = await finished(rlId, subscribe(rlId), RL_METRICS);
    expect(rlRun.steps).toHaveLength(4); // 2 batches (2 + 1 prompts) x 2 inner epochs
    for (const s of rlRun.steps) {
      expect(s.extra!.completionLength).toBeGreaterThan(0);
      expect(s.extra!.completionLength).toBeLessThanOrEqual(4);
      expect(s.extra!.rewardStd).toBeGreaterThanOrEqual(0);
    }
    expect(rlRun.steps[0].extra!.kl).toBeLessThan(1e-6); // the first update starts from the reference
    expect(rlRun.job.rewardModelJobId).toBe(rmId);
    // The worker scores with the reward job's final checkpoint.
    const entity = await api.app.db.getRepository(TrainingJobEntity).findOneByOrFail({ id: rlId });
    const plan = await planRun(api.app.db.manager, entity, os.tmpdir());
    expect(plan.spec.rewardModelPath).toBe(rmRun.job.checkpoints.at(-1).path);
    expect(rmRun.job.checkpoints.at(-1).step).toBe(8);
  });

  it('refuses alignment fields on the wrong method', async () => {
    const sft = await create(api.admin, {
      ...rlInput(own, '00000000-0000-4000-8000-000000000000'),
      method: 'DPO',
      datasetId: own.preferenceId,
      hyperparameters: {},
    });
    refused(sft, /rewardModelJobId applies only to method RL, not DPO/);
    const beta = await create(api.admin, { ...rlInput(own), hyperparameters: { beta: 0.5 } });
    expect(errorCode(beta)).toBe('BAD_USER_INPUT');
    expect(beta.errors?.[0].extensions?.path).toEqual(['input', 'hyperparameters', 'beta']);
    const range = await create(api.admin, {
      ...rlInput(own),
      hyperparameters: { numGenerations: 1 },
    });
    expect(range.errors?.[0].extensions?.path).toEqual(['input', 'hyperparameters', 'numGenerations']);
  });
});
