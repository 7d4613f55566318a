/**
 * The open WebSocket connections of each API key in this process: at most a configured number per key, and all of
 * a key's connections closed (with their subscriptions) the moment any API process announces its revocation.
 */
import { CloseCode } from 'graphql-ws';
import type { WebSocket } from 'ws';

/** The client does not reconnect. */
export const CLOSE_UNAUTHORIZED = CloseCode.Unauthorized;
/** graphql-ws treats 4429 as fatal too; here: the key already holds its connections. */
export const CLOSE_TOO_MANY = 4429;

export class KeySockets {
  private readonly byKey = new Map<string, Set<WebSocket>>();

  constructor(private readonly maxPerKey: number) {}

  /** Counts `socket` against its key until it closes; false (and nothing counted) when the key is at its limit. */
  add(apiKeyId: string, socket: WebSocket): boolean {
    let open = this.byKey.get(apiKeyId);
    if (!open) this.byKey.set(apiKeyId, (open = new Set()));
    if (open.size >= this.maxPerKey) return false;
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      if (open.size === 0 && this.byKey.get(apiKeyId) === open) this.byKey.delete(apiKeyId);
    });
    return true;
  }

  /** Closes every connection of the key. */
  closeKey(apiKeyId: string, reason: string): void {
    for (const socket of this.byKey.get(apiKeyId) ?? []) socket.close(CLOSE_UNAUTHORIZED, reason);
  }
}
