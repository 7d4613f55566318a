/// <reference lib="dom" />
/**
 * The console in headless Chromium against a real API and worker: every flow a new user takes, through the pages
 * only (the API is read directly just to check what was stored).
 */
import type { Page } from 'playwright-core';
import { BOOTSTRAP_KEY, demoModelDir, sftJsonl } from '../integration/support/api';
import { METHOD_NAMES } from '../../src/vocabulary';
import { startConsole, type ConsoleEnv } from './support';

jest.setTimeout(180_000);

describe('the web console', () => {
  let env: ConsoleEnv;
  let page: Page;
  let jobUrl: string;
  let tunedEvaluation: string;

  beforeAll(async () => {
    env = await startConsole();
  });
  afterAll(() => env?.close());

  const go = (route: string) => page.goto(env.url + route);
  const status = () => page.locator('h1 + .status').innerText();

  it('signs in with an API key, and refuses a wrong one', async () => {
    page = await env.chromium.open(env.url + '/');
    await page.fill('input[name=apiKey]', 'not-a-key-0123456789');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error:has-text("UNAUTHENTICATED")');
    await page.fill('input[name=apiKey]', BOOTSTRAP_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('nav >> text=Training jobs');
    expect(await page.locator('main h1').innerText()).toBe('Project');
    expect(await page.evaluate(() => sessionStorage.getItem('whetstone.apiKey'))).toBe(BOOTSTRAP_KEY);
  });

  it('switches between English and Chinese', async () => {
    await page.click('[data-testid=lang]');
    await page.waitForSelector('nav >> text=训练任务');
    await page.click('[data-testid=lang]');
    await page.waitForSelector('nav >> text=Training jobs');
  });

  it('registers the demo model from its folder', async () => {
    await go('/models');
    await page.fill('input[placeholder=Name]', 'demo');
    await page.fill('input[placeholder="/path/to/hf-folder"]', demoModelDir());
    await page.click('button:has-text("Register")');
    await page.waitForSelector('td:has-text("LlamaForCausalLM")');
    expect(await page.locator('tbody tr').first().innerText()).toContain('llama');
  });

  it('uploads a dataset: a broken file shows its line and stores nothing; a good one is previewed', async () => {
    await go('/datasets');
    const broken = `${sftJsonl(2)}\n{"prompt": 3}\n${sftJsonl(2)}`;
    await page.setInputFiles('input[type=file]', {
      name: 'broken.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(broken),
    });
    await page.click('button:has-text("Upload")');
    const error = await page.waitForSelector('.error');
    expect(await error.innerText()).toMatch(/BAD_USER_INPUT: line 3: "prompt" must be a string/);
    expect((await env.api.admin('{ datasets { id } }')).data?.datasets).toEqual([]);

    await page.setInputFiles('input[type=file]', {
      name: 'qa.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(sftJsonl(32)),
    });
    await page.fill('input[type=number]', '0.25');
    // The progress bar's values while the file goes up (it disappears once the upload is answered).
    await page.evaluate(() => {
      const seen: number[] = ((window as unknown as { progress: number[] }).progress = []);
      new MutationObserver(() => {
        const bar = document.querySelector('[role=progressbar]');
        if (bar) seen.push(Number(bar.getAttribute('aria-valuenow')));
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.click('button:has-text("Upload")');
    await page.waitForSelector('a:has-text("qa")');
    expect(await page.evaluate(() => (window as unknown as { progress: number[] }).progress)).toContain(100);
    await page.click('a:has-text("qa")');
    await page.waitForSelector('h2:has-text("Preview")');
    const facts = await page.locator('.facts').innerText();
    expect(facts).toContain('SFT');
    expect(facts).toMatch(/Training 24 · Validation 8/);
    expect(await page.locator('table.rows tbody tr').count()).toBe(20);
    expect(await page.locator('table.rows tbody tr').first().innerText()).toContain('what is 0 plus one?');
  });

  it('creates a LoRA job from the form the hyperparameter specification builds', async () => {
    await go('/jobs/new');
    // The form offers what trainingMethods says: a reward model trains on PREFERENCE rows (none here), never with
    // PROMPT_TUNING.
    const options = (name: string) => page.locator(`select[name=${name}] option`).allInnerTexts();
    const optionCount = (name: string, n: number) =>
      page.waitForFunction(
        ([name, n]) => document.querySelectorAll(`select[name=${name}] option`).length === n,
        [name, n] as const,
      );
    await optionCount('parameterScale', 3);
    expect(await options('method')).toEqual(METHOD_NAMES);
    await page.selectOption('select[name=method]', 'REWARD_MODEL');
    await optionCount('parameterScale', 2);
    expect(await options('parameterScale')).toEqual(['FULL', 'LORA']);
    expect(await options('dataset')).toEqual([]);
    await page.selectOption('select[name=method]', 'SFT');
    await optionCount('dataset', 1);
    expect(await options('dataset')).toEqual(['qa (32)']);
    await page.fill('input[name=name]', 'first-lora');
    await page.selectOption('select[name=parameterScale]', 'LORA');
    await page.waitForSelector('[data-field=loraRank]');
    expect(await page.locator('[data-field=numVirtualTokens]').count()).toBe(0);
    const set = (field: string, value: string) => page.fill(`[data-field=${field}] input`, value);
    // Long enough (600 steps) that the job is still running after the chart test, on a fast machine too.
    await set('epochs', '100');
    await set('batchSize', '4');
    await set('learningRate', '0.01');
    await set('checkpointEverySteps', '20');
    await page.click('button:has-text("Create job")');
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    jobUrl = new URL(page.url()).pathname;
  });

  it('shows the loss chart gaining a point for every step while the job runs', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 600 && seen.size < 15; i++) {
      const { points, step } = await page.evaluate(() => ({
        points: Number(document.querySelector('[data-testid=charts]')?.getAttribute('data-steps') ?? 0),
        step: Number(
          /Step (\d+)/.exec(document.querySelector('.progress span')?.textContent ?? '')?.[1] ?? 0,
        ),
      }));
      // Every step the page has heard of is on the chart: history first, then each pushed step.
      if (step > 0) expect(points).toBe(step);
      if (points > 0) seen.add(points);
      await page.waitForTimeout(50);
    }
    expect(seen.size).toBeGreaterThanOrEqual(15);
    expect(await status()).toBe('Running');
    const lossChart = page.locator('.chart').first();
    expect(Number(await lossChart.getAttribute('data-points'))).toBeGreaterThanOrEqual(15);
  });

  it('cancels the job and resumes it from a chosen checkpoint', async () => {
    await page.click('button:has-text("Cancel")');
    await page.waitForSelector('h1 + .status:has-text("Cancelled")', { timeout: 60_000 });
    await page.waitForSelector('[data-checkpoint]');
    const first = page.locator('[data-checkpoint]').first();
    const step = Number(await first.getAttribute('data-checkpoint'));
    await first.locator('button:has-text("Resume from here")').click();
    await page.waitForSelector('h1 + .status:has-text("Succeeded")', { timeout: 120_000 });
    // What the job allows now, as the API's canCancel / canResume say: neither.
    await page.waitForSelector('h1 ~ button.danger:has-text("Cancel"):disabled');
    await page.waitForSelector('[data-checkpoint] button:has-text("Resume from here"):disabled');
    const job = await env.api.admin(
      `{ trainingJob(id: "${jobUrl.split('/').pop()}") { totalSteps step attempts } }`,
    );
    const total = job.data?.trainingJob.totalSteps as number;
    expect(job.data?.trainingJob.step).toBe(total);
    // After the resume the chart holds every step exactly once: the stored ones up to the checkpoint, then the rerun.
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-testid=charts]')?.getAttribute('data-steps')) === n,
      total,
    );
    expect(step).toBeLessThan(total);
    // Two runs in the status history: the cancelled one and the resumed one.
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid=attempts] tbody tr').length === 2,
    );
    expect(await page.locator('[data-testid=attempts] tbody').innerText()).toMatch(
      /CANCELLED[\s\S]*SUCCEEDED/,
    );
    await page.reload();
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-testid=charts]')?.getAttribute('data-steps')) === n,
      total,
    );
  });

  it('evaluates the final checkpoint and opens its worst sample first', async () => {
    const last = page.locator('[data-checkpoint]').last();
    await last.locator('button:has-text("Evaluate")').click();
    await page.fill('.inset input[type=number]', '4');
    await page.click('.inset button:has-text("Start evaluation")');
    await page.waitForURL(/\/evaluations\/[0-9a-f-]{36}$/);
    tunedEvaluation = new URL(page.url()).pathname.split('/').pop() as string;
    await page.waitForSelector('h1 + .status:has-text("Succeeded")', { timeout: 120_000 });
    await page.waitForSelector('h2:has-text("Aggregate metrics")');
    await page.waitForSelector('table.samples tbody tr');
    // The score columns and their headings are the API's: the ordering metric, then the others summaries show.
    const metrics = (await env.api.admin('{ evaluationMetrics { metric label summary } }')).data
      ?.evaluationMetrics as { metric: string; label: string; summary: boolean }[];
    const orderedBy = await page.locator('select[name=metric]').inputValue();
    const ordering = metrics.find((m) => m.metric === orderedBy);
    const headings = await page.locator('table.samples thead th').allInnerTexts();
    expect(headings.slice(4)).toEqual([
      ordering?.label,
      ...metrics.filter((m) => m.summary && m !== ordering).map((m) => m.label),
    ]);
    const scores = await page.locator('table.samples tbody tr td:nth-child(5)').allInnerTexts();
    const values = scores.map(Number);
    expect(values[0]).toBe(Math.min(...values));
    expect([...values].sort((a, b) => a - b)).toEqual(values);
  });

  it('compares the base model with the tuned one, samples paired by row', async () => {
    await go('/evaluations');
    await page.selectOption('select[name=dataset]', { label: 'qa' });
    await page.fill('input[type=number]', '4');
    await page.click('button:has-text("Start evaluation")');
    await page.waitForURL(/\/evaluations\/[0-9a-f-]{36}$/);
    const base = new URL(page.url()).pathname.split('/').pop() as string;
    await page.waitForSelector('h1 + .status:has-text("Succeeded")', { timeout: 120_000 });
    await go(`/evaluations/compare?ids=${base},${tunedEvaluation}`);
    await page.waitForSelector('h2:has-text("Samples paired by row")');
    const header = await page.locator('table.compact thead').innerText();
    expect(header).toContain('demo (BASE)');
    expect(header).toContain('first-lora @');
    // One row per metric, labelled as the API labels it.
    const metrics = (await env.api.admin('{ evaluationMetrics { label } }')).data?.evaluationMetrics as {
      label: string;
    }[];
    expect(await page.locator('table.compact tbody th').allInnerTexts()).toEqual(metrics.map((m) => m.label));
    expect(await page.locator('table.samples tbody tr').count()).toBeGreaterThan(0);
  });

  it('compares runs: curves overlaid and the hyperparameter difference', async () => {
    const jobId = jobUrl.split('/').pop();
    const created = await env.api.admin(
      `{ trainingJob(id: "${jobId}") { baseModel { id } dataset { id } } }`,
    );
    const second = await env.api.admin(
      `mutation($input: CreateTrainingJobInput!) { createTrainingJob(input: $input) { id } }`,
      {
        input: {
          name: 'second-lora',
          method: 'SFT',
          parameterScale: 'LORA',
          baseModelId: created.data?.trainingJob.baseModel.id,
          datasetId: created.data?.trainingJob.dataset.id,
          hyperparameters: { epochs: 1, batchSize: 4, learningRate: 0.002 },
        },
      },
    );
    await go('/jobs');
    await page.locator(`tr[data-job="${jobId}"] input[type=checkbox]`).check();
    await page.locator(`tr[data-job="${second.data?.createTrainingJob.id}"] input[type=checkbox]`).check();
    await page.click('a:has-text("Compare selected (2)")');
    await page.waitForSelector('[data-testid=hp-diff]');
    const diff = await page.locator('[data-testid=hp-diff]').innerText();
    expect(diff).toMatch(/learningRate\s+0\.01\s+0\.002/);
    expect(diff).toMatch(/epochs\s+100\s+1/);
    expect(diff).not.toContain('loraRank');
    // The first job's whole stored history (600 steps, within the preview's points) on the overlaid loss chart.
    const total = (await env.api.admin(`{ trainingJob(id: "${jobId}") { totalSteps } }`)).data?.trainingJob
      .totalSteps;
    await page.waitForFunction(
      (n) => document.querySelector('.chart')?.getAttribute('data-points') === String(n),
      total,
    );
  });

  it('streams a playground answer from the tuned checkpoint beside the base model', async () => {
    await go('/playground');
    await page.fill('textarea[name=prompt]', 'Q2: what is 2 plus one?');
    await page.fill('input[name=maxNewTokens]', '12');
    await page.click('button:has-text("Compare with a second model")');
    const checkpoint = page.locator('select[name=checkpoint1] option').nth(1);
    await page.selectOption('select[name=checkpoint1]', { label: (await checkpoint.innerText()).trim() });
    // Record how the first answer grows: streamed pieces arrive before the end.
    await page.evaluate(() => {
      const lengths: number[] = ((window as unknown as { lengths: number[] }).lengths = []);
      new MutationObserver(() => {
        const text = document.querySelector('[data-testid=answer1]')?.textContent ?? '';
        if (lengths[lengths.length - 1] !== text.length) lengths.push(text.length);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.click('button:has-text("Generate")');
    for (const n of [1, 2]) {
      await page.waitForFunction(
        (i) =>
          /END_OF_SEQUENCE|MAX_NEW_TOKENS/.test(
            document.querySelector(`[data-testid=finish${i}]`)?.textContent ?? '',
          ),
        n,
        { timeout: 120_000 },
      );
    }
    expect(await page.locator('[data-testid=finish1]').innerText()).toMatch(/^\d+ tokens/);
    const lengths = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
    expect(lengths.filter((l) => l > 0).length).toBeGreaterThan(1);
    expect((await page.locator('[data-testid=answer1]').innerText()).length).toBeGreaterThan(0);
  });
});
