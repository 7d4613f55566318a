/// <reference lib="dom" />
/**
 * The playground's checkpoint list in headless Chromium against a real API (no worker): it offers the checkpoints
 * of the jobs whose method generates text, as `trainingMethods` says, and not a reward model's, which
 * createGeneration refuses.
 */
import type { Page } from 'playwright-core';
import {
  BOOTSTRAP_KEY,
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
} from '../integration/support/api';
import { insertTrainingJob } from '../integration/evaluations/support';
import { startConsole, type ConsoleEnv } from './support';

jest.setTimeout(180_000);

describe('the playground', () => {
  let env: ConsoleEnv;
  let page: Page;

  beforeAll(async () => {
    env = await startConsole({ worker: false });
  });
  afterAll(() => env?.close());

  it('lists only the checkpoints of methods that generate', async () => {
    const admin = env.api.admin;
    const modelId = (await admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } })).data
      ?.registerModel.id as string;
    const datasetId = (
      await admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: sftJsonl(4) } })
    ).data?.createDataset.id as string;
    const projectId = (await admin(`{ viewer { project { id } } }`)).data?.viewer.project.id as string;
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
});
