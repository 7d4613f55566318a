/**
 * `npm run console:screenshots`: a screenshot of every console page at 1280x800 into docs/console/, from a real
 * run: a throwaway API (own schema and Redis prefix) and worker, the demo model, a dataset, two LoRA jobs, the
 * base and tuned evaluations and a streamed playground answer, all made through the public API.
 */
import 'reflect-metadata';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { BOOTSTRAP_KEY, demoModelDir, sftJsonl } from '../test/integration/support/api';
import { startConsole } from '../test/browser/support';

/** GraphQL answers, read loosely: this script only drives the pages. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Data = Record<string, any>;

const OUT = path.resolve(__dirname, '../docs/console');

async function main(): Promise<void> {
  const env = await startConsole();
  const gql = async <T = Data>(query: string, variables?: Record<string, unknown>) => {
    const r = await env.api.admin<T>(query, variables);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data as T;
  };
  const until = async (query: string, done: (d: Data) => boolean) => {
    for (let i = 0; i < 600; i++) {
      if (done(await gql(query))) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out: ${query}`);
  };
  try {
    const model = (
      await gql(
        `mutation($p: String!) { registerModel(input: {name: "demo-tiny-llama", path: $p}) { id } }`,
        { p: demoModelDir() },
      )
    ).registerModel.id;
    const dataset = (
      await gql(
        `mutation($j: String!) { createDataset(input: {name: "arithmetic", kind: SFT, jsonl: $j, validationSplitRatio: 0.25}) { id } }`,
        { j: sftJsonl(32) },
      )
    ).createDataset.id;
    const job = async (name: string, hyperparameters: Record<string, unknown>) =>
      (
        await gql(`mutation($i: CreateTrainingJobInput!) { createTrainingJob(input: $i) { id } }`, {
          i: {
            name,
            method: 'SFT',
            parameterScale: 'LORA',
            baseModelId: model,
            datasetId: dataset,
            hyperparameters,
          },
        })
      ).createTrainingJob.id as string;
    const tuned = await job('lora-r8', {
      epochs: 20,
      batchSize: 4,
      learningRate: 0.01,
      checkpointEverySteps: 40,
      evalEverySteps: 10,
    });
    await until(`{ trainingJob(id: "${tuned}") { status } }`, (d) => d.trainingJob.status === 'SUCCEEDED');
    const other = await job('lora-r4', {
      epochs: 20,
      batchSize: 4,
      learningRate: 0.003,
      loraRank: 4,
      evalEverySteps: 10,
    });
    await until(`{ trainingJob(id: "${other}") { status } }`, (d) => d.trainingJob.status === 'SUCCEEDED');
    const evaluate = async (name: string, extra: Record<string, unknown>) => {
      const id = (
        await gql(`mutation($i: CreateEvaluationJobInput!) { createEvaluationJob(input: $i) { id } }`, {
          i: { name, baseModelId: model, datasetId: dataset, maxNewTokens: 4, ...extra },
        })
      ).createEvaluationJob.id as string;
      await until(`{ evaluationJob(id: "${id}") { status } }`, (d) => d.evaluationJob.status === 'SUCCEEDED');
      return id;
    };
    const base = await evaluate('base', {});
    const tunedEval = await evaluate('lora-r8', { trainingJobId: tuned });

    const page = await env.chromium.open(`${env.url}/`);
    const shot = async (name: string, p: Page = page) => {
      await p.waitForTimeout(600);
      await p.screenshot({ path: path.join(OUT, `${name}.png`) });
    };
    await shot('sign-in');
    await page.fill('input[name=apiKey]', BOOTSTRAP_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('nav');
    await gql(`mutation { createApiKey(input: {name: "analyst", role: MEMBER}) { secret } }`);
    const pages: [string, string][] = [
      ['project', '/'],
      ['models', '/models'],
      ['datasets', '/datasets'],
      ['dataset', `/datasets/${dataset}`],
      ['jobs', '/jobs'],
      ['new-job', '/jobs/new'],
      ['job', `/jobs/${tuned}`],
      ['compare-runs', `/jobs/compare?ids=${tuned},${other}`],
      ['evaluations', '/evaluations'],
      ['evaluation', `/evaluations/${tunedEval}`],
      ['compare-evaluations', `/evaluations/compare?ids=${base},${tunedEval}`],
    ];
    for (const [name, route] of pages) {
      await page.goto(env.url + route);
      await page.waitForSelector('main h1');
      await shot(name);
    }
    await page.goto(`${env.url}/playground`);
    await page.fill('textarea[name=prompt]', 'Q2: what is 2 plus one?');
    await page.fill('input[name=maxNewTokens]', '8');
    await page.click('button:has-text("Compare with a second model")');
    await page.selectOption('select[name=checkpoint1]', { label: 'lora-r8 @ 120' });
    await page.click('button:has-text("Generate")');
    for (const n of [1, 2])
      await page.waitForSelector(`[data-testid=finish${n}]:text-matches("END_OF_SEQUENCE|MAX_NEW_TOKENS")`, {
        timeout: 120_000,
      });
    await shot('playground');
    await page.click('[data-testid=lang]');
    await page.goto(`${env.url}/jobs/${tuned}`);
    await page.waitForSelector('main h1');
    await shot('job-zh');
    console.log(`wrote ${pages.length + 3} screenshots to ${OUT}`);
  } finally {
    await env.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
