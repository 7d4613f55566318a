/** Text PostgreSQL cannot store: NUL characters, and UTF-16 surrogates without their pair (no UTF-8 form). */

/** A NUL, or a surrogate that is not half of a pair. */
// eslint-disable-next-line no-control-regex -- NUL is what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL cannot store `text`, or null when it can. */
export function unstorable(text: string): string | null {
  const m = UNSTORABLE.exec(text);
  if (!m) return null;
  return m[0] === '\u0000'
    ? `holds a NUL character at position ${m.index}`
    : `holds an unpaired UTF-16 surrogate at position ${m.index}`;
}

/**
 * The path (keys and indexes) and reason of the first string or object key in a JSON value that PostgreSQL cannot
 * store; null when there is none.
 */
export function firstUnstorable(
  value: unknown,
  at: string[] = [],
): { path: string[]; reason: string } | null {
  if (typeof value === 'string') {
    const reason = unstorable(value);
    return reason ? { path: at, reason } : null;
  }
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    const keyReason = unstorable(key);
    if (keyReason) return { path: [...at, key], reason: `its key ${keyReason}` };
    const found = firstUnstorable(item, [...at, key]);
    if (found) return found;
  }
  return null;
}
