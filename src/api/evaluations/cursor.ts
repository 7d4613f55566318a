/**
 * Opaque cursors of lists ordered by a number (a metric, or a row index), ties broken by a key (an id or a row
 * index). A cursor remembers its ordering, so one from another ordering is rejected instead of silently
 * starting elsewhere.
 */
import { isUuid } from '../common/ids';
import { badInput } from '../errors';

export interface ValueCursor {
  value: number;
  key: string;
}

export function encodeValueCursor(ordering: string, c: ValueCursor): string {
  return Buffer.from(JSON.stringify([ordering, c.value, c.key]), 'utf8').toString('base64url');
}

/** What the key of a list's cursor is: an id, or a row index. */
export type CursorKey = 'uuid' | 'index';

const KEY_CHECKS: Record<CursorKey, (key: string) => boolean> = {
  uuid: isUuid,
  index: (key) => /^(0|[1-9][0-9]{0,8})$/.test(key),
};

/** Only what encodeValueCursor writes for this ordering is a cursor of it; anything else is BAD_USER_INPUT. */
export function decodeValueCursor(
  cursor: string,
  ordering: string,
  key: CursorKey,
  path: readonly string[],
): ValueCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    typeof parsed[1] !== 'number' ||
    typeof parsed[2] !== 'string' ||
    !KEY_CHECKS[key](parsed[2]) ||
    encodeValueCursor(String(parsed[0]), { value: parsed[1], key: parsed[2] }) !== cursor
  ) {
    throw badInput('not a cursor of this list', path);
  }
  if (parsed[0] !== ordering) throw badInput('the cursor belongs to another ordering of this list', path);
  return { value: parsed[1], key: parsed[2] };
}
