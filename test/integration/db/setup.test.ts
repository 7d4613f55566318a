import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDataSource } from '../../../src/db/data-source';
import { writeDemoModel } from '../../../src/models/demo';
import { DEMO_MODEL_NAME, setup } from '../../../src/setup';
import { DEMO_RECOMMENDED } from '../../../src/training/demo-model';
import { createTestEnv, TestEnv } from '../support/env';

/** The random demo folder: what setup does with the model is the same, without a minute of pre-training. */
const demo = async (dir: string) => writeDemoModel(dir);

describe('setup (first start on a fresh database)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      migrate: false,
      env: { WHETSTONE_BOOTSTRAP_KEY: 'setup-test-bootstrap-key' },
    });
  });
  afterAll(() => env.dispose());

  it('migrates, creates the default project with the bootstrap key, registers the demo model; again is a no-op', async () => {
    const lines: string[] = [];
    await setup(env.config, (l) => lines.push(l), demo);
    await setup(env.config, (l) => lines.push(l), demo);
    expect(lines.filter((l) => l.startsWith('migrations applied'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('registered demo-tiny-llama'))).toHaveLength(1);
    const db = await createDataSource(env.config, 1).initialize();
    try {
      const models = await db.query(
        `SELECT m.name, m.architecture, m.parameter_count FROM base_models m JOIN projects p ON p.id = m.project_id
          WHERE p.is_default`,
      );
      expect(models).toEqual([
        { name: DEMO_MODEL_NAME, architecture: 'LlamaForCausalLM', parameter_count: expect.any(String) },
      ]);
      const keys = await db.query(`SELECT role FROM api_keys`);
      expect(keys).toEqual([{ role: 'ADMIN' }]);
    } finally {
      await db.destroy();
    }
  });

  it("gives a demo model from before its recommendations its config.json's, folder and row", async () => {
    const file = path.join(env.config.dataDir, 'models', DEMO_MODEL_NAME, 'config.json');
    const { whetstone: _, ...older } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify(older));
    const db = await createDataSource(env.config, 1).initialize();
    const stored = () =>
      db.query(`SELECT recommended_hyperparameters AS r FROM base_models WHERE name = $1`, [DEMO_MODEL_NAME]);
    try {
      await db.query(`UPDATE base_models SET recommended_hyperparameters = NULL`);
      const lines: string[] = [];
      await setup(env.config, (l) => lines.push(l), demo);
      expect(lines.filter((l) => l.startsWith('added the recommended hyperparameters'))).toHaveLength(1);
      const loraTargets = 'all-linear';
      expect(await stored()).toEqual([
        { r: { ...DEMO_RECOMMENDED, LORA: { ...DEMO_RECOMMENDED.LORA, loraTargets } } },
      ]);
      expect(JSON.parse(readFileSync(file, 'utf8')).whetstone).toEqual({
        recommended_hyperparameters: DEMO_RECOMMENDED,
      });
    } finally {
      await db.destroy();
    }
  });
});
