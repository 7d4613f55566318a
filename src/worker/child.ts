/**
 * The child-process side of every job runner: receives the spec over IPC, runs the job, reports its progress and
 * how it ended. The job blocks this process's event loop, never the worker's, so Bull's lock renewal goes on.
 * When the worker goes away (killed), the IPC channel closes and this process exits through `leave`, also when
 * the worker vanished in the middle of a message (no `write EPIPE` escapes).
 */
import { UserInputError } from '../errors';
import type { FromRunner, RunEnd, StopReason, ToRunner } from './protocol';

export interface RunnerIo<Progress, Ack> {
  /** Resolves once the message is handed to the worker; never, when the worker is gone (the process exits). */
  send(message: Progress): Promise<void>;
  /** True once the worker asked the run to stop. */
  shouldStop(): boolean;
  /** Acknowledgements from the worker. */
  onAck(listener: (ack: Ack) => void): void;
}

/** Serves one job in this process: `run` returns whether a stop request ended it early. */
export function serveJob<Spec, Progress, Ack extends { type: string } = never>(
  run: (spec: Spec, io: RunnerIo<Progress, Ack>) => Promise<{ stopped: boolean }>,
): void {
  let stop: StopReason | null = null;
  let finished = false;
  const ackListeners: ((ack: Ack) => void)[] = [];

  const leave = () => {
    if (!finished) console.error(`[runner ${process.pid}] the worker went away: exiting`);
    process.exit(finished ? 0 : 1);
  };
  const send = (message: FromRunner<Progress>) =>
    new Promise<void>((resolve) => {
      if (!process.send || !process.connected) return leave();
      process.send(message, undefined, {}, (err) => (err ? leave() : resolve()));
    });
  const io: RunnerIo<Progress, Ack> = {
    send,
    shouldStop: () => stop !== null,
    onAck: (listener) => void ackListeners.push(listener),
  };

  const start = async (spec: Spec) => {
    let end: RunEnd;
    try {
      end = { type: 'done', ...(await run(spec, io)) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      end = { type: 'failed', message, userInput: err instanceof UserInputError };
    }
    await send(end);
    finished = true;
    process.disconnect();
  };

  process.on('message', (message: ToRunner<Spec, Ack>) => {
    if (message.type === 'start') void start((message as { spec: Spec }).spec);
    else if (message.type === 'stop') stop = (message as { reason: StopReason }).reason;
    else for (const listener of ackListeners) listener(message as Ack);
  });
  process.on('disconnect', leave);
}
