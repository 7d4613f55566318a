import { badInput } from '../errors';

/** Names of projects, keys, models, datasets and jobs: trimmed, 1 to 200 characters. */
export function checkName(name: string, path: readonly string[]): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 200) throw badInput('name must be 1 to 200 characters', path);
  return trimmed;
}
