import { MIGRATIONS } from '../../../migrations';
import { createDataSource, migrateUp } from '../../../src/db/data-source';
import { createTestEnv, TestEnv } from '../support/env';

const TABLES = [
  'api_keys',
  'base_models',
  'checkpoints',
  'dataset_rows',
  'datasets',
  'evaluation_jobs',
  'evaluation_samples',
  'generations',
  'job_attempts',
  'projects',
  'training_jobs',
  'training_step_metrics',
];

const NAMES = MIGRATIONS.map((m) => new m().name);

describe('migrations', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ migrate: false });
  });
  afterAll(() => env.dispose());

  it('apply to an empty schema, revert completely, and apply again', async () => {
    const ds = createDataSource(env.config, 1);
    const tables = async () =>
      (
        await ds.query(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [env.config.databaseSchema],
        )
      ).map((r: { table_name: string }) => r.table_name);
    try {
      const applied = await migrateUp(ds, env.config.databaseSchema);
      expect(applied).toEqual(NAMES);
      expect(await tables()).toEqual([...TABLES, 'migrations'].sort());
      expect(await migrateUp(ds, env.config.databaseSchema)).toEqual([]);

      const indexes = await ds.query(
        `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`,
        [env.config.databaseSchema, 'training_jobs'],
      );
      expect(indexes.map((r: { indexname: string }) => r.indexname)).toEqual(
        expect.arrayContaining([
          'training_jobs_history',
          'training_jobs_by_status',
          'training_jobs_by_model',
        ]),
      );

      for (let i = 0; i < NAMES.length; i++) await ds.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual(['migrations']);
      expect(await ds.query(`SELECT * FROM migrations`)).toEqual([]);

      expect(await migrateUp(ds, env.config.databaseSchema)).toEqual(NAMES);
      expect(await tables()).toEqual([...TABLES, 'migrations'].sort());
    } finally {
      if (ds.isInitialized) await ds.destroy();
    }
  });
});
