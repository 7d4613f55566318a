/**
 * `npm run dev` (scripts/dev.sh) against the test PostgreSQL and Redis: it refuses a taken port before starting
 * anything, prints its banner only once the API answers, and when one of its two processes dies it stops the
 * other and exits non-zero, saying which one died. The processes a run started are found by a marker in their
 * environment, not from what the script prints, so one it leaves behind is seen (and stopped here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
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

type Role = 'API' | 'worker';
const ROLES: Record<string, Role> = { 'dist/src/server.js': 'API', 'dist/src/worker/main.js': 'worker' };

/** The API and worker processes whose environment holds `marker`. */
function processesOf(marker: string): { pid: number; role: Role }[] {
  const found: { pid: number; role: Role }[] = [];
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (!fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(marker)) continue;
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const role = args.map((a) => ROLES[a]).find(Boolean);
      if (role) found.push({ pid: Number(entry), role });
    } catch {
      // Exited meanwhile, or not ours to read.
    }
  }
  return found;
}

async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  } catch {
    return false;
  }
}

interface DevRun {
  child: ChildProcess;
  /** NAME=value in the environment of the run and everything it starts. */
  marker: string;
  output: () => string;
  exited: Promise<number | null>;
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

function runDev(env: Record<string, string>): DevRun {
  const id = randomBytes(6).toString('hex');
  const child = spawn('bash', [SCRIPT], {
    env: { ...process.env, ...env, WHETSTONE_DEV_TEST_RUN: id },
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
  return { child, marker: `WHETSTONE_DEV_TEST_RUN=${id}`, output: () => output, exited, waitFor };
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
    for (const r of runs) for (const p of processesOf(r.marker)) process.kill(p.pid, 'SIGKILL');
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
      // No worker left on the queue (one used to stay after the API's EADDRINUSE).
      expect(processesOf(run.marker)).toEqual([]);
      expect(run.output()).toMatch(new RegExp(`port ${port} is in use`));
      expect(run.output()).not.toMatch(/building|API:|worker/);
    } finally {
      taken.close();
    }
  });

  describe('running', () => {
    let run: DevRun;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      run = runDev({ ...env.env, PORT: String(port), HOST: '127.0.0.1' });
      runs.push(run);
    });

    it('prints its banner once the API answers', async () => {
      await run.waitFor(/API: /);
      expect(await healthy(port)).toBe(true);
    });

    it('when the worker dies it stops the API, exits non-zero and says so', async () => {
      while (!(await healthy(port))) await new Promise((r) => setTimeout(r, 200));
      const started = processesOf(run.marker);
      expect(started.map((p) => p.role).sort()).toEqual(['API', 'worker']);
      const pidOf = (role: Role) => started.find((p) => p.role === role)!.pid;

      process.kill(pidOf('worker'), 'SIGKILL');
      const code = await run.exited;
      // Nothing left running without its parent (the API used to stay).
      expect(processesOf(run.marker)).toEqual([]);
      expect(alive(pidOf('API'))).toBe(false);
      expect(code).toBe(1);
      expect(run.output()).toMatch(/the worker exited \(code 137\): stopping the other process/);
    });
  });
});
