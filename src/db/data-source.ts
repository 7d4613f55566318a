/**
 * The TypeORM data source: entities, the explicit migration list, and the schema chosen by configuration.
 * `synchronize` stays off: the migrations are the only thing that changes tables.
 */
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import type { Config } from '../config';
import { ENTITIES } from './entities';

export function createDataSource(
  config: Pick<Config, 'databaseUrl' | 'databaseSchema'>,
  poolSize = 10,
): DataSource {
  return new DataSource({
    type: 'postgres',
    url: config.databaseUrl,
    schema: config.databaseSchema,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    // Ids come from gen_random_uuid() (built in since PostgreSQL 13) in the migrations; no extension needed.
    installExtensions: false,
    // Unqualified names in the hand-written migrations and queries resolve in the configured schema.
    extra: { max: poolSize, options: `-c search_path=${config.databaseSchema}` },
  });
}

/** Creates the configured schema when missing (a fresh database, or a test's own schema). */
export async function ensureSchema(dataSource: DataSource, schema: string): Promise<void> {
  await dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
}

/** Initializes the data source and applies pending migrations. */
export async function migrateUp(dataSource: DataSource, schema: string): Promise<string[]> {
  if (!dataSource.isInitialized) await dataSource.initialize();
  await ensureSchema(dataSource, schema);
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  return applied.map((m) => m.name);
}
