/** Opaque page cursors over the (createdAt, id) order of the job history. */
import { isUuid } from '../common/ids';
import { badInput } from '../errors';

export interface JobCursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(c: JobCursor): string {
  return Buffer.from(`${c.createdAt.toISOString()}|${c.id}`, 'utf8').toString('base64url');
}

/** Only what encodeCursor writes is a cursor: anything else (or a time PostgreSQL cannot hold) is BAD_USER_INPUT. */
export function decodeCursor(cursor: string, path: readonly string[]): JobCursor {
  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso);
  const year = createdAt.getUTCFullYear();
  const valid =
    rest.length === 0 &&
    id !== undefined &&
    isUuid(id) &&
    year >= 1970 &&
    year <= 9999 &&
    encodeCursor({ createdAt, id }) === cursor;
  if (!valid) throw badInput('not a cursor of this list', path);
  return { createdAt, id };
}
