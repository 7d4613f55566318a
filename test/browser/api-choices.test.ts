/// <reference lib="dom" />
/**
 * Choices the console takes from the API's registries, in headless Chromium against a real API (no worker, rows
 * as workers leave them): the playground offers the checkpoints of the jobs whose method generates text, as
 * `trainingMethods` says, and not a reward model's, which createGeneration refuses; an evaluation's samples are
 * ordered by the headline metric of `evaluationMetrics` until another is chosen.
 */
import type { Page } from 'playwright-core';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
} from '../integration/support/api';
import { insertEvaluation, insertSamples, insertTrainingJob } from '../integration/evaluations/support';
import { startConsole, type ConsoleEnv } from './support';

jest.setTimeout(180_000);

describe('the console’s choices from the API', () => {
  let env: ConsoleEnv;
  let page: Page;
  let modelId: string;
  let datasetId: string;
  let projectId: string;

  beforeAll(async () => {
    env = await startConsole({ worker: false });
  });
  afterAll(() => env?.close());

  it('lists only the checkpoints of methods that generate', async () => {
    const admin = env.api.admin;
    modelId = (await admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } })).data
      ?.registerModel.id as string;
    datasetId = (await admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: sftJsonl(4) } })).data
      ?.createDataset.id as string;
    projectId = (await admin(`{ viewer { project { id } } }`)).data?.viewer.project.id as string;
    const methods = (await admin(`{ trainingMethods { method generates } }`)).data?.trainingMethods as {
      method: string;
      generates: boolean;
    }[];
    // One job of every method, named after it, with a checkpoint at step 1.
    for (const { method } of methods) {
      const job = await insertTrainingJob(env.api.app.db, {
        projectId,
        baseModelId: modelId,
        datasetId,
        method,
        checkpoints: [{ step: 1, path: `/ckpt/${method}` }],
      });
      await env.api.app.db.query(`UPDATE training_jobs SET name = $1 WHERE id = $2`, [method, job.id]);
    }

    page = await env.chromium.open(env.url + '/');
    await page.fill('input[name=apiKey]', BOOTSTRAP_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('nav >> text=Training jobs');
    await page.goto(env.url + '/playground');
    const generating = methods.filter((m) => m.generates).map((m) => `${m.method} @ 1`);
    await page.waitForSelector(`select[name=checkpoint1] option:has-text("${generating[0]}")`, {
      state: 'attached',
    });
    const options = await page.locator('select[name=checkpoint1] option').allInnerTexts();
    expect(options.slice(1).sort()).toEqual(generating.sort());
    expect(options).not.toContain('REWARD_MODEL @ 1');
  });

  it('orders an evaluation’s samples by the headline metric until another is chosen', async () => {
    const metrics = (await env.api.admin(`{ evaluationMetrics { metric label headline } }`)).data
      ?.evaluationMetrics as { metric: string; label: string; headline: boolean }[];
    const headline = metrics.find((m) => m.headline)!;
    const id = await insertEvaluation(env.api.app.db, {
      projectId,
      baseModelId: modelId,
      datasetId,
      v: 0.5,
      createdAt: new Date(),
    });
    // Every metric is the row's value but BLEU-4, which is 1 - value: ordered by it, row 2 would come first.
    await insertSamples(env.api.app.db, id, [0.5, 0.1, 0.9]);
    await page.goto(`${env.url}/evaluations/${id}`);
    await page.waitForSelector('table.samples tbody tr');
    expect(await page.locator('select[name=metric]').inputValue()).toBe(headline.metric);
    expect((await page.locator('table.samples thead th').allInnerTexts())[4]).toBe(headline.label);
    expect(await page.locator('table.samples tbody tr td:nth-child(1)').allInnerTexts()).toEqual([
      '1',
      '0',
      '2',
    ]);
    await page.selectOption('select[name=metric]', 'BLEU4');
    await page.waitForFunction(
      () => document.querySelector('table.samples tbody tr td')?.textContent === '2',
    );
  });
});
