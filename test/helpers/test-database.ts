/**
 * The PostgreSQL database the tests use, and its creation when it is missing: jest's global setup (before any
 * test) connects to the server's `postgres` database and creates it, so a fresh clone needs only a running server.
 */
import { DataSource } from 'typeorm';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Creates the database `url` names unless it exists; returns whether it created it. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error(`${url} names no database`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = await new DataSource({ type: 'postgres', url: admin.toString() }).initialize();
  try {
    const rows: unknown[] = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (err) {
    // Another run created it meanwhile.
    if ((err as { code?: string }).code === '42P04') return false;
    throw err;
  } finally {
    await client.destroy();
  }
}

/** jest's globalSetup. */
export default async function globalSetup(): Promise<void> {
  if (await ensureDatabase(TEST_DATABASE_URL))
    console.log(`created the test database (${TEST_DATABASE_URL})`);
}
