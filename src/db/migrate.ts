/**
 * `npm run migrate -- up|down|status`: apply every pending migration, revert them all (or `down N`), or list them.
 * Configured like the server (DATABASE_URL, WHETSTONE_DB_SCHEMA).
 */
import 'reflect-metadata';
import { loadConfig } from '../config';
import { UserInputError } from '../errors';
import { createDataSource, migrateUp } from './data-source';

export async function runMigrateCommand(
  argv: string[],
  log: (line: string) => void = console.log,
): Promise<void> {
  const [action = 'up', count] = argv;
  const config = loadConfig();
  const dataSource = createDataSource(config, 2);
  try {
    if (action === 'up') {
      const applied = await migrateUp(dataSource, config.databaseSchema);
      log(applied.length ? `applied: ${applied.join(', ')}` : 'no pending migrations');
    } else if (action === 'down') {
      await dataSource.initialize();
      const executed = await dataSource
        .query(`SELECT count(*)::int AS n FROM migrations`)
        .catch(() => [{ n: 0 }]);
      const steps = count === undefined ? executed[0].n : Number(count);
      if (!Number.isInteger(steps) || steps < 0)
        throw new UserInputError(`down takes a count, got ${count}`, ['count']);
      for (let i = 0; i < steps; i++) await dataSource.undoLastMigration({ transaction: 'each' });
      log(`reverted ${steps} migration(s)`);
    } else if (action === 'status') {
      await dataSource.initialize();
      log((await dataSource.showMigrations()) ? 'pending migrations exist' : 'up to date');
    } else {
      throw new UserInputError(`unknown migrate action "${action}" (up, down [N], status)`, ['action']);
    }
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
  }
}

if (require.main === module) {
  runMigrateCommand(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`migrate: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
