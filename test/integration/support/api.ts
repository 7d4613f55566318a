/** An API process inside the test, on a free port, in its own schema and Redis prefix, with a bootstrap key. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApiApp, type ApiApp } from '../../../src/api/app';
import { writeDemoModel } from '../../../src/models/demo';
import { Gql, httpClient } from './client';
import { createTestEnv, type TestEnv } from './env';

export const BOOTSTRAP_KEY = 'test-bootstrap-key-0123456789';

export interface TestApi {
  env: TestEnv;
  app: ApiApp;
  /** Calls with the bootstrap (admin, default project) key. */
  admin: Gql;
  as(key: string | null): Gql;
  close(): Promise<void>;
}

export async function startTestApi(envOverrides: Record<string, string> = {}): Promise<TestApi> {
  const env = await createTestEnv({ env: { WHETSTONE_BOOTSTRAP_KEY: BOOTSTRAP_KEY, ...envOverrides } });
  const app = await createApiApp(env.config);
  await app.listen();
  return {
    env,
    app,
    admin: httpClient(app.httpServer, BOOTSTRAP_KEY),
    as: (key) => httpClient(app.httpServer, key),
    close: async () => {
      await app.close();
      await env.dispose();
    },
  };
}

/** A tiny random LLaMA-style model folder (the built-in demo model), written once per test file. */
export function demoModelDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'whetstone-demo-model-'));
  writeDemoModel(dir);
  return dir;
}

export const REGISTER_MODEL = `mutation($input: RegisterModelInput!) {
  registerModel(input: $input) { id name path architecture modelType parameterCount maxSequenceLength vocabularySize }
}`;

export const CREATE_DATASET = `mutation($input: CreateDatasetInput!) {
  createDataset(input: $input) { id name kind rowCount trainRowCount validationRowCount validationSplitRatio source }
}`;

export const CREATE_JOB = `mutation($input: CreateTrainingJobInput!) {
  createTrainingJob(input: $input) {
    id name status method parameterScale step progress
    hyperparameters { epochs batchSize learningRate lrScheduler loraRank loraAlpha loraTargets numVirtualTokens
                      maxSequenceLength checkpointEverySteps executionProvider }
    baseModel { id } dataset { id }
  }
}`;

/** Prompt/response rows the demo model can learn quickly. */
export function sftJsonl(rows = 8): string {
  return Array.from({ length: rows }, (_, i) =>
    JSON.stringify({ prompt: `Q${i % 4}: what is ${i % 4} plus one?`, response: ` ${(i % 4) + 1}` }),
  ).join('\n');
}
