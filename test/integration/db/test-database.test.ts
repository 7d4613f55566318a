/** `npm test` creates its database when it is missing (jest's globalSetup), so a fresh clone tests itself. */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { ensureDatabase, TEST_DATABASE_URL } from '../../helpers/test-database';

describe('the test database', () => {
  it("is jest's global setup", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const config = require('../../../jest.config.js') as { globalSetup?: string; rootDir?: string };
    expect(config.globalSetup?.replace('<rootDir>', path.resolve(__dirname, '../../..'))).toBe(
      path.resolve(__dirname, '../../helpers/test-database.ts'),
    );
  });

  it('is created when missing, and left alone when it exists', async () => {
    const url = new URL(TEST_DATABASE_URL);
    const name = `whetstone_missing_${randomBytes(4).toString('hex')}`;
    url.pathname = `/${name}`;
    const admin = await new DataSource({ type: 'postgres', url: TEST_DATABASE_URL }).initialize();
    try {
      expect(await ensureDatabase(url.toString())).toBe(true);
      const fresh = await new DataSource({ type: 'postgres', url: url.toString() }).initialize();
      expect(await fresh.query('SELECT current_database() AS db')).toEqual([{ db: name }]);
      await fresh.destroy();
      expect(await ensureDatabase(url.toString())).toBe(false);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
      await admin.destroy();
    }
  });
});
