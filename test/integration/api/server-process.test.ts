/**
 * The API as its own process (`npm start` runs the compiled twin of this): SIGTERM drains it and it exits 0.
 * Run outside jest's NODE_ENV=test, where libraries behave as in production (Apollo installs signal handlers).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { BOOTSTRAP_KEY } from '../support/api';
import { createTestEnv, TestEnv } from '../support/env';

describe('API process', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ env: { WHETSTONE_BOOTSTRAP_KEY: BOOTSTRAP_KEY } });
  });
  afterAll(() => env.dispose());

  it('serves, and on SIGTERM closes WebSocket clients and exits 0', async () => {
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.resolve(__dirname, '../../../src/server.ts')],
      { env: { ...process.env, ...env.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        output += d;
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
        if (m) resolve(Number(m[1]));
      });
      void exited.then(() => reject(new Error(`API exited:\n${output}`)));
    });

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${BOOTSTRAP_KEY}` },
      retryAttempts: 0,
    });
    const closed = new Promise<number>((resolve) =>
      client.on('closed', (e) => resolve((e as { code: number }).code)),
    );
    const ended = new Promise<void>((resolve) =>
      client.subscribe(
        { query: 'subscription { trainingJobStatusChanged { jobId } }' },
        { next: () => undefined, error: () => resolve(), complete: () => resolve() },
      ),
    );
    await new Promise((r) => setTimeout(r, 300));

    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await closed).toBe(1001);
    await ended;
    await client.dispose();
    expect(output).toContain('SIGTERM: draining');
  });
});
