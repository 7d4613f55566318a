/** Worker processes started from the TypeScript sources, as `npm run worker` starts the compiled ones. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | null>;
  /** SIGKILL the worker process at once (its training process must notice and exit by itself). */
  kill(): Promise<void>;
  /** Pids of the training processes this worker started (from its log). */
  runnerPids(): number[];
}

const MAIN = path.resolve(__dirname, '../../../src/worker/main.ts');

export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', MAIN], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 60_000);
    const check = () => {
      if (output.includes('consuming')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => reject(new Error(`worker exited:\n${output}`)));
  });
  return {
    child,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    runnerPids: () => [...output.matchAll(/running in process (\d+)/g)].map((m) => Number(m[1])),
  };
}
