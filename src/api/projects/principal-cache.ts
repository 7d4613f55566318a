/**
 * Authenticated keys, remembered briefly so a request does not cost a database round trip. A revocation evicts the
 * key at once in every API process (announced over Redis); the time-to-live bounds how long a process that missed
 * that message could still accept a revoked key.
 */
import type { Principal } from '../context';

export class PrincipalCache {
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();

  constructor(
    private readonly ttlMs = 10_000,
    private readonly maxEntries = 10_000,
  ) {}

  get(keyHash: string): Principal | undefined {
    const entry = this.entries.get(keyHash);
    if (!entry) return undefined;
    if (entry.expires < Date.now()) {
      this.entries.delete(keyHash);
      return undefined;
    }
    return entry.principal;
  }

  set(keyHash: string, principal: Principal): void {
    // Maps iterate in insertion order: dropping the first entry drops the oldest.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(keyHash, { principal, expires: Date.now() + this.ttlMs });
  }

  evictKey(apiKeyId: string): void {
    for (const [hash, entry] of this.entries)
      if (entry.principal.apiKeyId === apiKeyId) this.entries.delete(hash);
  }
}
