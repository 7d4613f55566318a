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

export function decodeCursor(cursor: string, path: readonly string[]): JobCursor {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso);
  if (!id || !isUuid(id) || Number.isNaN(createdAt.getTime()))
    throw badInput('not a cursor of this list', path);
  return { createdAt, id };
}
