/**
 * Self-contained test environments against the real PostgreSQL and Redis: every call gets its own database schema
 * and its own Redis prefix (queues and channels), and `dispose` removes both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { loadConfig, type Config } from '../../../src/config';
import { createDataSource, migrateUp } from '../../../src/db/data-source';
import { TEST_DATABASE_URL } from '../../helpers/test-database';

export { TEST_DATABASE_URL };
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestEnv {
  config: Config;
  /** Environment variables that configure a child process (worker) the same way. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

/** A fresh schema and prefix; `migrate` (default true) applies the migrations. */
export async function createTestEnv(
  opts: { migrate?: boolean; env?: Record<string, string> } = {},
): Promise<TestEnv> {
  const id = randomBytes(5).toString('hex');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'whetstone-test-'));
  const env: Record<string, string> = {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    WHETSTONE_DB_SCHEMA: `t_${id}`,
    WHETSTONE_REDIS_PREFIX: `t-${id}`,
    WHETSTONE_DATA_DIR: dataDir,
    WHETSTONE_IMPORT_ROOT: '/',
    HOST: '127.0.0.1',
    PORT: '0',
    ...opts.env,
  };
  const config = loadConfig(env);
  if (opts.migrate !== false) {
    const ds = createDataSource(config, 1);
    await migrateUp(ds, config.databaseSchema);
    await ds.destroy();
  }
  return {
    config,
    env,
    dispose: async () => {
      const ds = await createDataSource(config, 1).initialize();
      await ds.query(`DROP SCHEMA IF EXISTS "${config.databaseSchema}" CASCADE`);
      await ds.destroy();
      const redis = new Redis(config.redisUrl);
      const keys = await redis.keys(`${config.redisPrefix}:*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
