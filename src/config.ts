/**
 * Process configuration, read from the environment once and validated, so a typo in a variable fails at start-up
 * with its name rather than as a confusing error deep inside a request.
 */
import path from 'node:path';
import { UserInputError } from './errors';

export interface Config {
  /** PostgreSQL connection string. */
  databaseUrl: string;
  /** PostgreSQL schema holding Whetstone's tables (tests use one schema each). */
  databaseSchema: string;
  /** Redis connection string (queue and live events). */
  redisUrl: string;
  /** Prefix of every Redis key and channel: Bull queues and pub/sub (tests use one prefix each). */
  redisPrefix: string;
  host: string;
  port: number;
  /** When set, becomes an admin key of the default project on first start. */
  bootstrapKey: string | undefined;
  /** Where workers write job outputs and checkpoints; share it between machines for cross-machine resume. */
  dataDir: string;
  /**
   * The folder under which `createDataset(input: {path})` and `registerModel` may read server-side files (real
   * paths, job outputs excluded); null: server-side paths are off.
   */
  importRoot: string | null;
  /** Open WebSocket connections one API key may hold on one API process. */
  wsConnectionsPerKey: number;
  /** Largest dataset upload (POST /datasets/upload), in bytes. */
  uploadMaxBytes: number;
  /**
   * Bull lock duration and stalled-job check interval (ms): a dead worker's job moves to another worker between
   * lock / 2 and lock + stalled interval after the death.
   */
  queueLockMs: number;
  queueStalledIntervalMs: number;
  /** Runs of a job whose process keeps dying (killed, out of memory) before the job is FAILED. */
  jobAttempts: number;
  /** Rows of step metrics a worker buffers before writing them, and the longest it waits (ms). */
  metricsBatchSize: number;
  metricsFlushMs: number;
  /** The web console's built files, served at `/`. */
  consoleDir: string;
  /** Seconds to wait for requests and jobs to drain on SIGTERM. */
  shutdownGraceSeconds: number;
  /**
   * WHETSTONE_MEMORY_BUDGET: the memory a training job may use on a worker (the memory plan fits its layout to it,
   * and the API refuses a job whose estimate exceeds it); null: 90% of the memory available when the job starts.
   */
  memoryBudgetBytes: number | null;
  /**
   * WHETSTONE_GPU_MEMORY: the device memory a training job on a GPU provider may use (its plan must fit it too);
   * null: 90% of the first NVIDIA GPU's free memory (nvidia-smi), else no device check.
   */
  gpuMemoryBytes: number | null;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UserInputError(`environment variable ${name}=${raw} must be an integer in [${min}, ${max}]`, [
      name,
    ]);
  }
  return value;
}

function identifier(env: Env, name: string, fallback: string, pattern: RegExp): string {
  const value = env[name] || fallback;
  if (!pattern.test(value)) {
    throw new UserInputError(`environment variable ${name}=${value} must match ${pattern}`, [name]);
  }
  return value;
}

/** The folder under the data directory where workers write each job's outputs and checkpoints. */
export function jobsDir(dataDir: string): string {
  return path.join(dataDir, 'jobs');
}

/** WHETSTONE_IMPORT_ROOT: `off`, an absolute folder, or by default the `import` folder of the data directory. */
function importRoot(env: Env, dataDir: string): string | null {
  const raw = env.WHETSTONE_IMPORT_ROOT;
  if (raw === 'off') return null;
  if (raw === undefined || raw === '') return path.join(dataDir, 'import');
  if (!path.isAbsolute(raw)) {
    throw new UserInputError(
      `environment variable WHETSTONE_IMPORT_ROOT=${raw} must be an absolute folder or "off"`,
      ['WHETSTONE_IMPORT_ROOT'],
    );
  }
  return path.resolve(raw);
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A size in bytes, or with a unit (8GiB, 512M, 20g), of environment variable `name`; null when unset. */
export function parseMemoryBudget(raw: string | undefined, name = 'WHETSTONE_MEMORY_BUDGET'): number | null {
  if (raw === undefined || raw.trim() === '') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(raw.trim());
  if (!m || Number(m[1]) <= 0) {
    throw new UserInputError(
      `environment variable ${name}=${raw} must be a size such as 8GiB, 512MiB or 12000000000`,
      [name],
    );
  }
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(env.WHETSTONE_DATA_DIR || 'data');
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/whetstone',
    databaseSchema: identifier(env, 'WHETSTONE_DB_SCHEMA', 'public', /^[a-z_][a-z0-9_]{0,62}$/),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    redisPrefix: identifier(env, 'WHETSTONE_REDIS_PREFIX', 'whetstone', /^[A-Za-z0-9_.-]{1,64}$/),
    host: env.HOST || '0.0.0.0',
    port: integer(env, 'PORT', 4000, 0, 65535),
    bootstrapKey: env.WHETSTONE_BOOTSTRAP_KEY || undefined,
    dataDir,
    importRoot: importRoot(env, dataDir),
    wsConnectionsPerKey: integer(env, 'WHETSTONE_WS_CONNECTIONS_PER_KEY', 20, 1, 100_000),
    uploadMaxBytes: integer(env, 'WHETSTONE_UPLOAD_MAX_BYTES', 2 ** 30, 1, 2 ** 40),
    // A dead worker's job moves on within lock + stalled interval (30 s by default; README, "Faults").
    queueLockMs: integer(env, 'WHETSTONE_QUEUE_LOCK_MS', 20_000, 500, 3_600_000),
    queueStalledIntervalMs: integer(env, 'WHETSTONE_QUEUE_STALLED_INTERVAL_MS', 10_000, 500, 3_600_000),
    jobAttempts: integer(env, 'WHETSTONE_JOB_ATTEMPTS', 3, 1, 10),
    metricsBatchSize: integer(env, 'WHETSTONE_METRICS_BATCH', 50, 1, 10_000),
    metricsFlushMs: integer(env, 'WHETSTONE_METRICS_FLUSH_MS', 1000, 10, 60_000),
    consoleDir: path.resolve(env.WHETSTONE_CONSOLE_DIR || 'dist/console'),
    shutdownGraceSeconds: integer(env, 'WHETSTONE_SHUTDOWN_GRACE_S', 30, 0, 3600),
    memoryBudgetBytes: parseMemoryBudget(env.WHETSTONE_MEMORY_BUDGET),
    gpuMemoryBytes: parseMemoryBudget(env.WHETSTONE_GPU_MEMORY, 'WHETSTONE_GPU_MEMORY'),
  };
}
