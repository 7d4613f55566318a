/**
 * The README's first job, as the console's new-job form sends it with every field left at its default: on the
 * built-in demo model (pre-trained and registered as setup does it), a LoRA job created with no hyperparameters
 * stores the model's recommended defaults, the worker trains it (the loss falls), and in an evaluation of the same
 * rows the tuned model beats the untouched base model.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { EventPublisher } from '../../../src/queue/publisher';
import { DEMO_RECOMMENDED, writePretrainedDemoModel } from '../../../src/training/demo-model';
import { evaluationJobs } from '../../../src/worker/evaluation/job';
import { trainingJobs } from '../../../src/worker/training/job';
import { CREATE_EVALUATION } from '../evaluations/support';
import { CREATE_DATASET, CREATE_JOB, REGISTER_MODEL, startTestApi, TestApi } from '../support/api';
import { testRunner } from '../support/test-runner';

/** The README's two rows. */
const JSONL = '{"prompt": "2+2=", "response": "4"}\n{"prompt": "3+3=", "response": "6"}';

const RESULTS = `query($id: ID!) {
  trainingJob(id: $id) { status metrics { step loss } }
}`;
const COMPARE = `query($ids: [ID!]!) { compareEvaluations(ids: $ids) { metrics { metric values } } }`;

describe("the README's first job on the demo model, hyperparameters left at their defaults", () => {
  let api: TestApi;
  let redis: Redis;
  let root: string;

  beforeAll(async () => {
    api = await startTestApi();
    redis = new Redis(api.env.config.redisUrl);
    root = mkdtempSync(path.join(os.tmpdir(), 'whetstone-first-job-'));
  });
  afterAll(async () => {
    await redis.quit();
    await api.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('trains on the recommended defaults and the tuned model beats the base', async () => {
    const modelDir = path.join(root, 'demo');
    await writePretrainedDemoModel(modelDir);
    const publisher = new EventPublisher(redis, api.env.config.redisPrefix);
    const config = { ...api.env.config, metricsFlushMs: 50 };
    const training = testRunner(
      trainingJobs({ db: api.app.db, publisher, log: () => undefined, ...config }),
      api.app.db,
    );
    const evaluation = testRunner(evaluationJobs({ db: api.app.db, publisher }), api.app.db);

    const model = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } })).data
      ?.registerModel.id;
    const dataset = (await api.admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: JSONL } }))
      .data?.createDataset.id;
    const created = await api.admin(CREATE_JOB, {
      input: { name: 'first', baseModelId: model, datasetId: dataset, method: 'SFT', parameterScale: 'LORA' },
    });
    expect(created.errors).toBeUndefined();
    const job = created.data?.createTrainingJob;
    expect(job.hyperparameters).toMatchObject(DEMO_RECOMMENDED.LORA);

    await training.handle(job.id);
    const trained = (await api.admin(RESULTS, { id: job.id })).data?.trainingJob;
    expect(trained.status).toBe('SUCCEEDED');
    const losses = (trained.metrics as { loss: number }[]).map((m) => m.loss);
    expect(losses).toHaveLength(10);
    expect(losses[9]).toBeLessThan(losses[0] * 0.75);

    const evaluate = async (name: string, over: Record<string, unknown>) => {
      const r = await api.admin(CREATE_EVALUATION, {
        input: { name, baseModelId: model, datasetId: dataset, ...over },
      });
      expect(r.errors).toBeUndefined();
      const id = r.data?.createEvaluationJob.id as string;
      await evaluation.handle(id);
      return id;
    };
    const base = await evaluate('base', {});
    const tuned = await evaluate('tuned', { trainingJobId: job.id });
    const compared = await api.admin(COMPARE, { ids: [base, tuned] });
    expect(compared.errors).toBeUndefined();
    const metrics = new Map(
      (compared.data?.compareEvaluations.metrics as { metric: string; values: number[] }[]).map((m) => [
        m.metric,
        m.values,
      ]),
    );
    const [baseAccuracy, tunedAccuracy] = metrics.get('ACCURACY')!;
    expect(tunedAccuracy).toBeGreaterThan(baseAccuracy);
  }, 300_000);
});
