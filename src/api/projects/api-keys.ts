/** API key secrets: how they look, how they are hashed, how a request presents one. */
import { createHash, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'wst_';

export function generateApiKeySecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** Only this hash is stored; a leaked table does not leak usable keys. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** The first characters, shown next to a key so people can tell keys apart. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, SECRET_PREFIX.length + 6);
}

/**
 * The secret of `Bearer <key>` (the scheme is case-insensitive). WebSocket clients may also pass the bare key in
 * `connectionParams.authorization` (`allowBare`).
 */
export function secretFromAuthorization(value: unknown, allowBare = false): string | null {
  if (typeof value !== 'string') return null;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  if (match) return match[1];
  return allowBare && /^\S+$/.test(value) ? value : null;
}
