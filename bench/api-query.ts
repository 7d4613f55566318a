/**
 * `npm run bench:api-query`: latency of the `trainingJobs` history query with 10,000 stored jobs and 50 concurrent
 * clients (target: p99 < 50 ms). Each client repeatedly asks for a page of 20 jobs with their model and dataset
 * names, cycling through: the newest page, a status filter, a method filter, and the page after a cursor.
 * WHETSTONE_API_PROCESSES=N runs the API as N processes sharing the port (one Node process saturates one core).
 * Prints a table and, last, one JSON line.
 */
import 'reflect-metadata';
import http from 'node:http';
import type { Config } from '../src/config';
import { BENCH_KEY, createBenchEnv, quantile, round, startApiProcess, withDb } from './api-support';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const WARMUP = 500;

const QUERY = `query($filter: TrainingJobFilter, $after: String) {
  trainingJobs(first: 20, filter: $filter, after: $after) {
    edges { cursor node { id name status method parameterScale progress step totalSteps latestLoss createdAt
                          baseModel { name } dataset { name } } }
    pageInfo { endCursor hasNextPage }
  }
}`;

function seed(config: Config): Promise<string> {
  return withDb(config, async (db) => {
    const [project] = await db.query(`SELECT id FROM projects WHERE is_default`);
    const models: { id: string }[] = await db.query(
      `INSERT INTO base_models (project_id, name, path, architecture, model_type, parameter_count,
              max_sequence_length, vocabulary_size)
       SELECT $1, 'model-' || i, '/models/' || i, 'LlamaForCausalLM', 'llama', 1000000, 2048, 32000
         FROM generate_series(1, 5) i RETURNING id`,
      [project.id],
    );
    const datasets: { id: string }[] = await db.query(
      `INSERT INTO datasets (project_id, name, kind, row_count, train_row_count, validation_row_count,
              validation_split_ratio, split_seed, source)
       SELECT $1, 'dataset-' || i, 'SFT', 100, 100, 0, 0, 42, 'inline' FROM generate_series(1, 5) i RETURNING id`,
      [project.id],
    );
    await db.query(
      `INSERT INTO training_jobs (project_id, name, base_model_id, dataset_id, method, parameter_scale,
              hyperparameters, status, progress, step, total_steps, latest_loss, created_at)
       SELECT $1, 'job-' || i, ($2::uuid[])[1 + i % 5], ($3::uuid[])[1 + i % 5],
              (ARRAY['SFT','SFT','SFT','DPO','REWARD_MODEL'])[1 + i % 5],
              (ARRAY['LORA','FULL','PROMPT_TUNING'])[1 + i % 3], '{"epochs": 3, "checkpointEverySteps": 50}',
              (ARRAY['SUCCEEDED','SUCCEEDED','FAILED','CANCELLED','RUNNING','QUEUED'])[1 + i % 6],
              0.5, 50, 100, 1.5, now() - (i || ' seconds')::interval
         FROM generate_series(1, $4::int) i`,
      [project.id, models.map((m) => m.id), datasets.map((d) => d.id), JOBS],
    );
    await db.query(`ANALYZE training_jobs`);
    return project.id as string;
  });
}

async function main(): Promise<void> {
  const bench = await createBenchEnv();
  const api = await startApiProcess(bench.env);
  try {
    await seed(bench.config);
    // A cursor into the middle of the history, for the "next page" requests.
    const first = await call(api.url, { filter: null, after: null });
    const cursor = first.data.trainingJobs.pageInfo.endCursor as string;
    const variants = [
      { filter: null, after: null },
      { filter: { status: ['SUCCEEDED'] }, after: null },
      { filter: { method: ['DPO'] }, after: null },
      { filter: null, after: cursor },
    ];
    let next = 0;
    const latencies: number[] = [];
    const run = async (count: number, record: boolean) => {
      let issued = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (issued < count) {
            issued++;
            const variables = variants[next++ % variants.length];
            const t0 = performance.now();
            const result = await call(api.url, variables);
            const ms = performance.now() - t0;
            if (result.errors || result.data.trainingJobs.edges.length === 0) {
              throw new Error(`bad answer: ${JSON.stringify(result).slice(0, 500)}`);
            }
            if (record) latencies.push(ms);
          }
        }),
      );
    };
    await run(WARMUP, false);
    const t0 = performance.now();
    await run(REQUESTS, true);
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const report = {
      apiProcesses: Number(process.env.WHETSTONE_API_PROCESSES ?? 1),
      jobs: JOBS,
      clients: CLIENTS,
      requests: latencies.length,
      p50Ms: round(quantile(latencies, 0.5)),
      p90Ms: round(quantile(latencies, 0.9)),
      p99Ms: round(quantile(latencies, 0.99)),
      maxMs: round(latencies[latencies.length - 1]),
      requestsPerSecond: round(latencies.length / seconds, 1),
      targetP99Ms: 50,
      meetsTarget: quantile(latencies, 0.99) < 50,
    };
    console.log(
      `trainingJobs, ${JOBS} jobs stored, ${CLIENTS} concurrent clients, ${report.requests} requests, ` +
        `${report.apiProcesses} API process(es):\n` +
        `  p50 ${report.p50Ms} ms   p90 ${report.p90Ms} ms   p99 ${report.p99Ms} ms   max ${report.maxMs} ms   ` +
        `${report.requestsPerSecond} req/s`,
    );
    console.log(JSON.stringify(report));
  } finally {
    agent.destroy();
    await api.stop();
    await bench.dispose();
  }
}

/**
 * One POST over a keep-alive agent. node:http rather than fetch: on a small machine undici's fetch costs the load
 * generator several times the CPU, which the API would then lack.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });

interface Page {
  data: { trainingJobs: { edges: unknown[]; pageInfo: { endCursor: string } } };
  errors?: unknown;
}

function call(url: string, variables: Record<string, unknown>) {
  const body = JSON.stringify({ query: QUERY, variables });
  return new Promise<Page>((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${BENCH_KEY}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
