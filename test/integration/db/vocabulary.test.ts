/** The migrations' CHECK lists spell exactly the words of src/vocabulary.ts (and the scoring enums). */
import { createDataSource } from '../../../src/db/data-source';
import { MetricSegmenter, MetricStopwords } from '../../../src/db/entities';
import {
  API_KEY_ROLES,
  DATASET_KINDS,
  DATASET_SPLITS,
  EVALUATED_MODEL_KINDS,
  JOB_STATUSES,
  METHOD_NAMES,
  SCALE_NAMES,
} from '../../../src/vocabulary';
import { createTestEnv, TestEnv } from '../support/env';

const EXPECTED: Record<string, readonly string[]> = {
  'api_keys.role': API_KEY_ROLES,
  'datasets.kind': DATASET_KINDS,
  'dataset_rows.split': DATASET_SPLITS,
  'training_jobs.method': METHOD_NAMES,
  'training_jobs.parameter_scale': SCALE_NAMES,
  'training_jobs.status': JOB_STATUSES,
  'evaluation_jobs.status': JOB_STATUSES,
  'evaluation_jobs.model_kind': EVALUATED_MODEL_KINDS,
  'evaluation_jobs.dataset_split': DATASET_SPLITS,
  'evaluation_jobs.segmenter': Object.values(MetricSegmenter),
  'evaluation_jobs.stopwords': Object.values(MetricStopwords),
  'generations.status': JOB_STATUSES,
  'generations.model_kind': EVALUATED_MODEL_KINDS,
};

describe('vocabulary', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env.dispose());

  it("every vocabulary column's CHECK list in the migrations is the vocabulary's list", async () => {
    const ds = createDataSource(env.config, 1);
    await ds.initialize();
    try {
      const rows: { tbl: string; def: string }[] = await ds.query(
        `SELECT c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
          WHERE c.contype = 'c' AND n.nspname = $1`,
        [env.config.databaseSchema],
      );
      const found: Record<string, string[]> = {};
      for (const { tbl, def } of rows) {
        // e.g. CHECK ((method = ANY (ARRAY['SFT'::text, 'REWARD_MODEL'::text, ...])))
        const m = /^CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)$/.exec(def);
        if (!m) continue;
        const table = tbl.split('.').pop()!.replace(/"/g, '');
        found[`${table}.${m[1]}`] = [...m[2].matchAll(/'([^']*)'::text/g)].map((x) => x[1]);
      }
      // Lists that are not vocabulary words (finish reasons, attempt outcomes) belong to their own modules.
      for (const key of Object.keys(found)) if (!(key in EXPECTED)) delete found[key];
      expect(found).toEqual(Object.fromEntries(Object.entries(EXPECTED).map(([k, v]) => [k, [...v]])));
    } finally {
      await ds.destroy();
    }
  });
});
