/**
 * The entities describe the tables the migrations build: every entity column exists in its table with the
 * PostgreSQL type, array-ness, nullability and presence of a default the entity declares. (The migrations are
 * hand-written and `synchronize` stays off, so nothing else notices an entity that drifts from them.)
 */
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { createDataSource } from '../../../src/db/data-source';
import { createTestEnv, TestEnv } from '../support/env';

/** TypeORM's column type -> information_schema's udt_name. */
const UDT: Record<string, string> = {
  uuid: 'uuid',
  text: 'text',
  integer: 'int4',
  bigint: 'int8',
  boolean: 'bool',
  'double precision': 'float8',
  timestamptz: 'timestamptz',
  jsonb: 'jsonb',
};

interface Described {
  type: string;
  nullable: boolean;
  defaulted: boolean;
}

/** Where the table is stricter than its entity, on purpose; the test keeps these true as well. */
function tableDiffers(table: string, column: ColumnMetadata): Partial<Described> {
  // One embedded ScoreColumns serves a job (null until it has results) and a sample (always scored).
  if (table === 'evaluation_samples' && column.embeddedMetadata) return { nullable: false };
  // The worker always sets when an attempt started; the table defaults it to now() as well.
  if (table === 'job_attempts' && column.databaseName === 'started_at') return { defaulted: true };
  return {};
}

describe('entities', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env.dispose());

  it('declare every column as the migrations create it', async () => {
    const ds = await createDataSource(env.config, 1).initialize();
    try {
      const rows: {
        table_name: string;
        column_name: string;
        udt_name: string;
        is_nullable: 'YES' | 'NO';
        column_default: string | null;
      }[] = await ds.query(
        `SELECT table_name, column_name, udt_name, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = $1`,
        [env.config.databaseSchema],
      );
      const inTables: Record<string, Described> = {};
      for (const r of rows) {
        inTables[`${r.table_name}.${r.column_name}`] = {
          type: r.udt_name,
          nullable: r.is_nullable === 'YES',
          defaulted: r.column_default !== null,
        };
      }
      const expected: Record<string, Described> = {};
      const found: Record<string, Described | undefined> = {};
      for (const entity of ds.entityMetadatas) {
        for (const c of entity.columns) {
          const key = `${entity.tableName}.${c.databaseName}`;
          const udt = UDT[String(c.type)];
          if (!udt) throw new Error(`${key}: add TypeORM type ${String(c.type)} to UDT`);
          expected[key] = {
            type: c.isArray ? `_${udt}` : udt,
            nullable: c.isNullable,
            defaulted:
              c.default !== undefined || c.isCreateDate || c.isUpdateDate || c.generationStrategy === 'uuid',
            ...tableDiffers(entity.tableName, c),
          };
          found[key] = inTables[key];
        }
      }
      expect(Object.keys(expected).length).toBeGreaterThan(100);
      expect(found).toEqual(expected);
    } finally {
      await ds.destroy();
    }
  });
});
