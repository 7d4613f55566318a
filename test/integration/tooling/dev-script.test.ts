/**
 * `npm run dev` (scripts/dev.sh) against the test PostgreSQL and Redis: it refuses a taken port before starting
 * anything, prints its banner only once the API answers, and when one of its two processes dies it stops the
 * other and exits non-zero, saying which one died.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createTestEnv, type TestEnv } from '../support/env';

jest.setTimeout(300_000);

const SCRIPT = path.resolve(__dirname, '../../../scripts/dev.sh');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface DevRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

function runDev(env: Record<string, string>): DevRun {
  const child = spawn('bash', [SCRIPT], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = async (pattern: RegExp) => {
    for (;;) {
      const m = output.match(pattern);
      if (m) return m;
      if (child.exitCode !== null) throw new Error(`dev.sh exited without ${pattern}:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, output: () => output, exited, waitFor };
}

describe('npm run dev', () => {
  let env: TestEnv;
  const runs: DevRun[] = [];
  beforeAll(async () => {
    env = await createTestEnv({
      migrate: false,
      env: { WHETSTONE_BOOTSTRAP_KEY: 'dev-script-test-key-0123' },
    });
  });
  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGTERM');
    await Promise.all(runs.map((r) => r.exited));
    await env.dispose();
  });

  it('refuses a port in use before starting anything', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const run = runDev({ ...env.env, PORT: String(port), HOST: '0.0.0.0' });
      runs.push(run);
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(new RegExp(`port ${port} is in use`));
      expect(run.output()).not.toMatch(/building|API:|worker/);
    } finally {
      taken.close();
    }
  });

  it('prints its banner once the API answers; when the worker dies it stops the API and says so', async () => {
    const port = await freePort();
    const run = runDev({ ...env.env, PORT: String(port), HOST: '127.0.0.1' });
    runs.push(run);
    const api = Number((await run.waitFor(/API: .*pid (\d+)\)/))[1]);
    const worker = Number((await run.waitFor(/worker: +pid (\d+)/))[1]);
    // The banner came after the API answered: it answers at once.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).ok).toBe(true);

    process.kill(worker, 'SIGKILL');
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/the worker exited \(code 137\): stopping the other process/);
    expect(alive(api)).toBe(false);
  });
});
