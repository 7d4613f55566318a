/**
 * Shared set-up of the API benchmarks: a schema and Redis prefix of their own, a running job's rows, and the API as
 * a separate process (as in production, so the load generator does not share its event loop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { Config } from '../src/config';
import { createDataSource } from '../src/db/data-source';
import { createTestEnv, type TestEnv } from '../test/integration/support/env';

export const BENCH_KEY = 'bench-bootstrap-key-0123456789';

/** A schema, Redis prefix and data folder of their own, as the tests get them, with a bootstrap key to call the API with. */
export function createBenchEnv(): Promise<TestEnv> {
  return createTestEnv({ env: { WHETSTONE_BOOTSTRAP_KEY: BENCH_KEY } });
}

/**
 * A RUNNING training job of the default project on a registered model and dataset: the rows alone, no worker
 * runs it. `columns` sets more training_jobs columns (snake_case).
 */
export async function insertRunningJob(
  db: DataSource,
  name: string,
  hyperparameters: Record<string, unknown>,
  columns: Record<string, unknown> = {},
): Promise<{ projectId: string; jobId: string }> {
  const [project] = await db.query(`SELECT id FROM projects WHERE is_default`);
  const [model] = await db.query(
    `INSERT INTO base_models (project_id, name, path, architecture, model_type, parameter_count,
            max_sequence_length, vocabulary_size)
     VALUES ($1, 'm', '/m', 'LlamaForCausalLM', 'llama', 1, 2048, 32000) RETURNING id`,
    [project.id],
  );
  const [dataset] = await db.query(
    `INSERT INTO datasets (project_id, name, kind, row_count, train_row_count, validation_row_count,
            validation_split_ratio, split_seed, source)
     VALUES ($1, 'd', 'SFT', 1, 1, 0, 0, 42, 'inline') RETURNING id`,
    [project.id],
  );
  const names = Object.keys(columns);
  const [job] = await db.query(
    `INSERT INTO training_jobs (project_id, name, base_model_id, dataset_id, method, parameter_scale,
            hyperparameters, status${names.map((n) => `, ${n}`).join('')})
     VALUES ($1, $2, $3, $4, 'SFT', 'LORA', $5, 'RUNNING'${names.map((_, i) => `, $${i + 6}`).join('')})
     RETURNING id`,
    [project.id, name, model.id, dataset.id, hyperparameters, ...Object.values(columns)],
  );
  return { projectId: project.id as string, jobId: job.id as string };
}

/** Runs `use` with a data source on the bench's schema, closed afterwards. */
export async function withDb<T>(config: Config, use: (db: DataSource) => Promise<T>): Promise<T> {
  const db = await createDataSource(config, 1).initialize();
  try {
    return await use(db);
  } finally {
    await db.destroy();
  }
}

export interface ApiProcess {
  url: string;
  wsUrl: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the compiled API (dist/src/server.js) and waits for it to listen. */
export async function startApiProcess(env: Record<string, string>): Promise<ApiProcess> {
  const server = path.resolve(__dirname, '../src/server.js');
  const flags = process.env.BENCH_API_NODE_FLAGS ? process.env.BENCH_API_NODE_FLAGS.split(' ') : [];
  const child = spawn(process.execPath, [...flags, server], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (d) => (output += d));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      output += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`API exited:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The q-quantile (0..1) of already sorted values, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}
