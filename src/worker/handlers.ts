/**
 * One handler per queue. The registry's type demands a handler for every queue in `QueuePayloads`, and
 * `checkHandlers` repeats the check at start-up against the runtime list, so a worker never consumes a queue it
 * cannot handle nor silently ignores one.
 */
import type Bull from 'bull';
import { QUEUE_NAMES, type QueueName, type QueuePayloads } from '../queue/queues';

export type QueueHandler<N extends QueueName> = (job: Bull.Job<QueuePayloads[N]>) => Promise<void>;

export type HandlerRegistry = { [N in QueueName]: QueueHandler<N> };

export function checkHandlers(
  registry: Partial<Record<string, unknown>>,
): asserts registry is HandlerRegistry {
  const missing = QUEUE_NAMES.filter((name) => typeof registry[name] !== 'function');
  if (missing.length) throw new Error(`no handler for queue(s): ${missing.join(', ')}`);
}
