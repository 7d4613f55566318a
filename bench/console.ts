/**
 * `npm run bench:console` (after `npm run build`): the web console in headless Chromium (Debian's, through
 * playwright-core) against the compiled API.
 * - open: a job with 100,000 stored steps, from navigation to its loss chart drawn (target < 1 s): first with the
 *   downsampled preview the console reads first, then with every stored step; then every chart with every step.
 *   Beside it, the time the same history takes fetched in the same page: packed (`packedMetricSeries`, what the
 *   console reads), as JSON number lists (`metricSeries`) and as one object per step (`metrics`).
 * - live: 500 steps published at 50 steps/s (as a worker publishes them) to that job's open page: every step must
 *   reach the chart; the delay from the last publish to the chart holding it.
 * - size: the first load (index.html, script, style) gzipped (target <= 300 KB).
 * Prints a table and, last, one JSON line.
 */
/// <reference lib="dom" />
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Redis from 'ioredis';
import type { Config } from '../src/config';
import { EventPublisher } from '../src/queue/publisher';
import { launchChromium } from '../test/browser/chromium';
import { BENCH_KEY, createBenchEnv, insertRunningJob, round, startApiProcess, withDb } from './api-support';

const STORED = Number(process.env.BENCH_STORED_STEPS ?? 100_000);
const LIVE = Number(process.env.BENCH_LIVE_STEPS ?? 500);
const RATE = Number(process.env.BENCH_LIVE_RATE ?? 50);
const CONSOLE_DIR = path.resolve(__dirname, '../console');

/** A running job with STORED steps of history, LIVE more to come. */
function insertJob(config: Config) {
  return withDb(config, async (db) => {
    const total = STORED + LIVE;
    const { projectId, jobId } = await insertRunningJob(
      db,
      'long run',
      { epochs: 10 },
      { step: STORED, total_steps: total, started_at: new Date() },
    );
    // A loss that falls with noise, a cosine learning rate, an eval_loss every 1,000 steps.
    await db.query(
      `INSERT INTO training_step_metrics (job_id, step, epoch, total_steps, loss, learning_rate, grad_norm,
              tokens_per_second, elapsed_seconds, eta_seconds, extra, recorded_at)
       SELECT $1, s, 1 + (s - 1) * 10 / $3, $3, 5 * exp(-s / 20000.0) + random() * 0.2,
              1e-4 * 0.5 * (1 + cos(pi() * s / $3)), 1 + random(), 9000 + random() * 500, s * 0.1,
              ($3 - s) * 0.1, CASE WHEN s % 1000 = 0 THEN jsonb_build_object('eval_loss', 5 * exp(-s / 20000.0))
              END, now()
       FROM generate_series(1, $2) AS s`,
      [jobId, STORED, total],
    );
    return { projectId, jobId, total };
  });
}

function firstLoadGzipBytes(): { files: number; bytes: number; gzipped: number } {
  const dir = CONSOLE_DIR;
  const html = readFileSync(path.join(dir, 'index.html'));
  const assets = readdirSync(path.join(dir, 'assets')).map((f) => readFileSync(path.join(dir, 'assets', f)));
  const all = [html, ...assets];
  return {
    files: all.length,
    bytes: all.reduce((n, b) => n + b.length, 0),
    gzipped: all.reduce((n, b) => n + gzipSync(b).length, 0),
  };
}

async function main(): Promise<void> {
  const bench = await createBenchEnv();
  const api = await startApiProcess({ ...bench.env, WHETSTONE_CONSOLE_DIR: CONSOLE_DIR });
  const origin = api.url.replace(/\/graphql$/, '');
  const redis = new Redis(bench.config.redisUrl);
  const chromium = await launchChromium();
  try {
    const { projectId, jobId, total } = await insertJob(bench.config);
    const size = firstLoadGzipBytes();
    // A server that has served before (as one holding 100,000 steps of a job has): the console's page once and
    // one GraphQL query, from here; the browser's page below still loads everything afresh.
    await fetch(`${origin}/`).then((r) => r.text());
    await fetch(api.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${BENCH_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ viewer { project { id } } }' }),
    }).then((r) => r.json());

    // Open: a fresh page (script not cached) straight to the job. When the charts drawn (data-points, set once a
    // chart's canvas is drawn) first hold so many points is timed in the page, as the attribute changes (a
    // mutation observer): the loss chart with the preview, with every step, then every chart with every step.
    const page = await chromium.open('about:blank', BENCH_KEY);
    await page.addInitScript((stored) => {
      const at: Record<string, number> = {};
      Object.assign(window, { drawnAt: at });
      const points = (c: Element) => Number(c.getAttribute('data-points'));
      new MutationObserver(() => {
        const charts = Array.from(document.querySelectorAll('.chart'));
        if (!charts.length) return;
        const now = performance.now();
        if (points(charts[0]) >= 1000) at.preview ??= now;
        if (points(charts[0]) >= stored) at.loss ??= now;
        if (charts.every((c) => points(c) >= stored)) at.all ??= now;
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-points'] });
    }, STORED);
    await page.goto(`${origin}/jobs/${jobId}`);
    const drawnAt = async (what: 'preview' | 'loss' | 'all') => {
      const at = await page.waitForFunction(
        (what) => (window as unknown as { drawnAt: Record<string, number> }).drawnAt[what],
        what,
        { polling: 100, timeout: 60_000 },
      );
      return (await at.jsonValue()) as number;
    };
    const previewMs = await drawnAt('preview');
    const previewPoints = Number(await page.locator('.chart').first().getAttribute('data-points'));
    const openMs = await drawnAt('loss');
    const allChartsMs = await drawnAt('all');
    // One query fetched by the page, timed there: the history as one object per step, then as columns.
    const timedQuery = (query: string) =>
      page.evaluate(
        async ({ query, key }) => {
          const started = performance.now();
          const res = await fetch('/graphql', {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ query }),
          });
          const body = await res.json();
          return { ms: performance.now() - started, body };
        },
        { query, key: BENCH_KEY },
      );
    const objects = await timedQuery(
      `{ trainingJob(id: "${jobId}") { metrics { step loss learningRate gradNorm tokensPerSecond extra } } }`,
    );
    const asObjects = {
      ms: objects.ms,
      steps: objects.body.data?.trainingJob.metrics.length ?? 0,
      error: objects.body.errors?.[0]?.message,
    };
    const columns = await timedQuery(
      `{ trainingJob(id: "${jobId}") { metricSeries { steps loss learningRate gradNorm tokensPerSecond extra } } }`,
    );
    const asColumns = {
      ms: columns.ms,
      steps: columns.body.data?.trainingJob.metricSeries.steps.length ?? 0,
    };
    const packed = await timedQuery(
      `{ trainingJob(id: "${jobId}") { packedMetricSeries { steps loss learningRate gradNorm tokensPerSecond extra } } }`,
    );
    const asPacked = {
      ms: packed.ms,
      steps: Buffer.from(packed.body.data?.trainingJob.packedMetricSeries.steps ?? '', 'base64').length / 4,
    };

    // Live: LIVE steps at RATE per second, published as the worker publishes them.
    const publisher = new EventPublisher(redis, bench.config.redisPrefix);
    const started = Date.now();
    for (let i = 1; i <= LIVE; i++) {
      const step = STORED + i;
      await publisher.publishStep({
        type: 'step',
        jobId,
        projectId,
        epoch: 10,
        step,
        totalSteps: total,
        loss: 0.5 + Math.random() * 0.1,
        learningRate: 1e-6,
        gradNorm: 1,
        tokensPerSecond: 9000,
        elapsedSeconds: step * 0.1,
        etaSeconds: (total - step) * 0.1,
        extra: null,
        at: new Date().toISOString(),
      });
      const due = started + (i * 1000) / RATE;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    const publishedAt = Date.now();
    const liveSecondsPublishing = (publishedAt - started) / 1000;
    await page
      .waitForFunction(
        (n) => Number(document.querySelector('[data-testid=charts]')?.getAttribute('data-steps')) >= n,
        total,
        {
          polling: 'raf',
          timeout: 10_000,
        },
      )
      .catch(() => undefined);
    const caughtUpMs = Date.now() - publishedAt;
    const onChart = await page.evaluate(() =>
      Number(document.querySelector('[data-testid=charts]')?.getAttribute('data-steps')),
    );
    const chartPoints = Number(await page.locator('.chart').first().getAttribute('data-points'));

    const rows = [
      [
        'open 100k-step job: navigation to drawn chart',
        `${round(previewMs, 0)} ms`,
        `${previewPoints} points (downsampled)`,
        `${round(previewMs / 1000, 2)}x of 1 s`,
      ],
      [
        '  ... then every stored step on the chart',
        `${round(openMs, 0)} ms`,
        `${STORED} points`,
        `${round(openMs / 1000, 2)}x of 1 s`,
      ],
      [
        '  ... and on every chart (lr, norm, tokens/s, evals)',
        `${round(allChartsMs, 0)} ms`,
        `${STORED} points`,
        '',
      ],
      [
        'history packed (packedMetricSeries) vs columns',
        `${round(asPacked.ms, 0)} ms vs ${round(asColumns.ms, 0)} ms`,
        `${asPacked.steps} / ${asColumns.steps} steps`,
        `${round(asColumns.ms / asPacked.ms, 2)}x faster`,
      ],
      [
        'history as columns (metricSeries) vs objects (metrics)',
        `${round(asColumns.ms, 0)} ms vs ${round(asObjects.ms, 0)} ms`,
        `${asColumns.steps} / ${asObjects.steps} steps`,
        `${round(asObjects.ms / asColumns.ms, 2)}x faster`,
      ],
      [
        `live: ${LIVE} steps at ${RATE}/s (${round(liveSecondsPublishing, 1)} s)`,
        `${onChart - STORED} of ${LIVE} on the chart`,
        `caught up ${caughtUpMs} ms after the last`,
        onChart === total && chartPoints === total ? 'none dropped' : 'DROPPED',
      ],
      [
        'first load gzipped',
        `${round(size.gzipped / 1024, 1)} KB`,
        `${size.files} files, ${round(size.bytes / 1024, 1)} KB raw`,
        `${round(size.gzipped / 1024 / 300, 2)}x of 300 KB`,
      ],
    ];
    for (const r of rows) console.log(r.map((c, i) => c.padEnd([52, 26, 32, 16][i])).join(' '));
    console.log(
      JSON.stringify({
        openPreviewMs: round(previewMs, 1),
        previewPoints,
        openAllStepsMs: round(openMs, 1),
        openAllChartsMs: round(allChartsMs, 1),
        storedSteps: STORED,
        historyPackedMs: round(asPacked.ms, 1),
        historyColumnsMs: round(asColumns.ms, 1),
        historyObjectsMs: round(asObjects.ms, 1),
        liveSteps: LIVE,
        liveRate: RATE,
        liveOnChart: onChart - STORED,
        liveDropped: total - onChart,
        liveCaughtUpMs: caughtUpMs,
        firstLoadGzipBytes: size.gzipped,
      }),
    );
  } finally {
    await chromium.close();
    redis.disconnect();
    await api.stop();
    await bench.dispose();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
