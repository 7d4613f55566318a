/**
 * Shared set-up of the API benchmarks: a schema and Redis prefix of their own, and the API as a separate process
 * (as in production, so the load generator does not share its event loop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { loadConfig, type Config } from '../src/config';
import { createDataSource, migrateUp } from '../src/db/data-source';

export const BENCH_KEY = 'bench-bootstrap-key-0123456789';

export interface BenchEnv {
  config: Config;
  env: Record<string, string>;
  dispose(): Promise<void>;
}

export async function createBenchEnv(): Promise<BenchEnv> {
  const id = randomBytes(4).toString('hex');
  const env: Record<string, string> = {
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    WHETSTONE_DB_SCHEMA: `bench_${id}`,
    WHETSTONE_REDIS_PREFIX: `bench-${id}`,
    WHETSTONE_BOOTSTRAP_KEY: BENCH_KEY,
    HOST: '127.0.0.1',
    PORT: '0',
  };
  const config = loadConfig(env);
  const ds = createDataSource(config, 1);
  await migrateUp(ds, config.databaseSchema);
  await ds.destroy();
  return {
    config,
    env,
    dispose: async () => {
      const db = await createDataSource(config, 1).initialize();
      await db.query(`DROP SCHEMA IF EXISTS "${config.databaseSchema}" CASCADE`);
      await db.destroy();
    },
  };
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
