/**
 * A console to drive in a browser: the current console sources built into a temporary folder, an API serving it,
 * a worker, and headless Chromium.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestApi, type TestApi } from '../integration/support/api';
import { startWorkerProcess, type WorkerProcess } from '../integration/support/worker-process';
import { launchChromium, type ConsoleBrowser } from './chromium';

const ROOT = path.resolve(__dirname, '../..');

/** Builds the console (types from the schema, then Vite) into `outDir`. */
export function buildConsole(outDir: string): void {
  const run = (args: string[]) => execFileSync('npx', args, { cwd: ROOT, stdio: 'pipe' });
  run(['graphql-codegen', '--config', 'console/codegen.ts', '--silent']);
  run([
    'vite',
    'build',
    '--config',
    'console/vite.config.mts',
    '--outDir',
    outDir,
    '--emptyOutDir',
    '--logLevel',
    'error',
  ]);
}

export interface ConsoleEnv {
  api: TestApi;
  worker: WorkerProcess | null;
  chromium: ConsoleBrowser;
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

export async function startConsole(
  opts: { worker?: boolean; env?: Record<string, string> } = {},
): Promise<ConsoleEnv> {
  const consoleDir = mkdtempSync(path.join(os.tmpdir(), 'whetstone-console-build-'));
  buildConsole(consoleDir);
  const api = await startTestApi({ WHETSTONE_CONSOLE_DIR: consoleDir, ...opts.env });
  const worker = opts.worker === false ? null : await startWorkerProcess(api.env.env);
  const chromium = await launchChromium();
  return {
    api,
    worker,
    chromium,
    url: `http://127.0.0.1:${(api.app.httpServer.address() as AddressInfo).port}`,
    close: async () => {
      await chromium.close();
      await worker?.stop();
      await api.close();
      rmSync(consoleDir, { recursive: true, force: true });
    },
  };
}
