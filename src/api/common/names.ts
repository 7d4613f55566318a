import { badInput } from '../errors';
import { unstorable } from './text';

/** Names of projects, keys, models, datasets and jobs: trimmed, 1 to 200 characters, storable text. */
export function checkName(name: string, path: readonly string[]): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 200) throw badInput('name must be 1 to 200 characters', path);
  const reason = unstorable(trimmed);
  if (reason) throw badInput(`name ${reason}`, path);
  return trimmed;
}
