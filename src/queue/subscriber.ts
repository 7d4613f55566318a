/**
 * One Redis subscriber connection per process, shared by every listener: channels are subscribed while at least
 * one listener wants them, and each message is parsed once, then handed to every listener of its channel.
 */
import Redis from 'ioredis';

export type Listener = (message: unknown) => void;

export class ChannelSubscriber {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly pending = new Map<string, Promise<unknown>>();

  private readonly ready: Promise<void>;

  constructor(
    private readonly redis: Redis,
    log: (message: string) => void = (m) => console.error(m),
  ) {
    redis.on('message', (channel: string, raw: string) => this.dispatch(channel, raw));
    redis.on('error', (err: Error) => log(`redis subscriber: ${err.message}`));
    // A SUBSCRIBE sent before the connection's ready check would make that check fail (subscriber mode).
    this.ready =
      redis.status === 'ready'
        ? Promise.resolve()
        : new Promise((resolve) => redis.once('ready', () => resolve()));
  }

  /** Resolves once Redis confirms the subscription, so no message published afterwards is missed. */
  async listen(channel: string, listener: Listener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.pending.set(
        channel,
        this.ready.then(() => this.redis.subscribe(channel)),
      );
    }
    set.add(listener);
    await this.pending.get(channel);
    return () => this.unlisten(channel, listener);
  }

  private async unlisten(channel: string, listener: Listener): Promise<void> {
    const set = this.listeners.get(channel);
    if (!set?.delete(listener) || set.size > 0) return;
    this.listeners.delete(channel);
    this.pending.delete(channel);
    if (this.redis.status === 'ready') await this.redis.unsubscribe(channel);
  }

  private dispatch(channel: string, raw: string): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    let message: unknown;
    try {
      message = JSON.parse(raw);
    } catch {
      message = raw;
    }
    for (const listener of set) listener(message);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.pending.clear();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
