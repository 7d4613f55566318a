/**
 * The migrations are history and spell their columns literally; these checks hold them to what the code declares
 * once: the metric registry's score columns (src/evaluation/metrics/registry.ts) and STEP_FIELDS
 * (src/training/progress.ts), read back from PostgreSQL's information_schema.
 */
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../../src/db/data-source';
import { EvaluationJobEntity } from '../../../src/db/entities';
import { FLAT_SCORE_NAMES } from '../../../src/evaluation/metrics';
import { STEP_FIELD_NAMES, STEP_FIELDS, stepColumn } from '../../../src/training/progress';
import { createTestEnv, TestEnv } from '../support/env';

interface StoredColumn {
  name: string;
  type: string;
  nullable: boolean;
}

/** STEP_FIELDS' SQL types as information_schema names them. */
const UDT = { int: 'int4', float8: 'float8' } as const;

describe('stored fields', () => {
  let env: TestEnv;
  let ds: DataSource;
  beforeAll(async () => {
    env = await createTestEnv();
    ds = createDataSource(env.config, 1);
    await ds.initialize();
  });
  afterAll(async () => {
    await ds.destroy();
    await env.dispose();
  });

  const columns = async (table: string): Promise<StoredColumn[]> =>
    (
      await ds.query(
        `SELECT column_name, udt_name, is_nullable FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [env.config.databaseSchema, table],
      )
    ).map((r: { column_name: string; udt_name: string; is_nullable: string }) => ({
      name: r.column_name,
      type: r.udt_name,
      nullable: r.is_nullable === 'YES',
    }));

  const scoreColumns = (all: StoredColumn[]) => all.filter((c) => FLAT_SCORE_NAMES.includes(c.name as never));

  it("evaluation_samples holds the row's text and one NOT NULL number per registered score, each indexed", async () => {
    const all = await columns('evaluation_samples');
    expect(all.map((c) => c.name)).toEqual([
      'evaluation_id',
      'index',
      'prompt',
      'reference',
      'prediction',
      ...FLAT_SCORE_NAMES,
    ]);
    expect(scoreColumns(all)).toEqual(
      FLAT_SCORE_NAMES.map((name) => ({ name, type: 'float8', nullable: false })),
    );

    const indexes: { indexname: string }[] = await ds.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'evaluation_samples'`,
      [env.config.databaseSchema],
    );
    expect(indexes.map((r) => r.indexname)).toEqual(
      expect.arrayContaining(FLAT_SCORE_NAMES.map((c) => `evaluation_samples_by_${c}`)),
    );
  });

  it('evaluation_jobs holds one nullable number per registered score and only the columns its entity maps', async () => {
    const all = await columns('evaluation_jobs');
    expect(scoreColumns(all)).toEqual(
      FLAT_SCORE_NAMES.map((name) => ({ name, type: 'float8', nullable: true })),
    );
    const mapped = ds.getMetadata(EvaluationJobEntity).columns.map((c) => c.databaseName);
    expect(all.map((c) => c.name).sort()).toEqual([...mapped].sort());
  });

  it('training_step_metrics holds the job, one column per step field of its SQL type, extra and the time', async () => {
    const all = await columns('training_step_metrics');
    expect(all.map((c) => c.name).sort()).toEqual(
      [...STEP_FIELD_NAMES.map(stepColumn), 'job_id', 'extra', 'recorded_at'].sort(),
    );
    const typeOf = Object.fromEntries(all.map((c) => [c.name, c.type]));
    expect(Object.fromEntries(STEP_FIELD_NAMES.map((f) => [f, typeOf[stepColumn(f)]]))).toEqual(
      Object.fromEntries(STEP_FIELD_NAMES.map((f) => [f, UDT[STEP_FIELDS[f]]])),
    );
  });
});
