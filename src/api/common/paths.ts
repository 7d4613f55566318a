/** Server-side paths named in requests must be absolute and inside the configured import root. */
import path from 'node:path';
import { badInput } from '../errors';

export function checkServerPath(given: string, importRoot: string, at: readonly string[]): string {
  if (!path.isAbsolute(given)) throw badInput(`path must be absolute, got "${given}"`, at);
  const resolved = path.resolve(given);
  const relative = path.relative(importRoot, resolved);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw badInput(`path ${resolved} is outside the import root ${importRoot}`, at);
  }
  return resolved;
}
