/**
 * The child-process side of every job runner: receives the spec over IPC, runs the job, reports its progress and
 * how it ended. The job blocks this process's event loop, never the worker's, so Bull's lock renewal goes on.
 * When the worker goes away (killed), the IPC channel closes and this process exits through `leave`, also when
 * the worker vanished in the middle of a message (no `write EPIPE` escapes).
 */
import { UserInputError } from '../errors';
import type { FromRunner, RunEnd, StopReason, ToRunner } from './protocol';

export interface RunnerIo<Progress> {
  /**
   * Resolves once the worker has handled the message (a stop request it had by then is already seen by
   * `shouldStop`); never, when the worker is gone (the process exits).
   */
  send(message: Progress): Promise<void>;
  /** True once the worker asked the run to stop. */
  shouldStop(): boolean;
}

/** Serves one job in this process: `run` returns whether a stop request ended it early. */
export function serveJob<Spec, Progress>(
  run: (spec: Spec, io: RunnerIo<Progress>) => Promise<{ stopped: boolean }>,
): void {
  let stop: StopReason | null = null;
  let finished = false;
  const handled: (() => void)[] = [];

  const leave = () => {
    if (!finished) console.error(`[runner ${process.pid}] the worker went away: exiting`);
    process.exit(finished ? 0 : 1);
  };
  const write = (message: FromRunner<Progress>) =>
    new Promise<void>((resolve) => {
      if (!process.send || !process.connected) return leave();
      process.send(message, undefined, {}, (err) => (err ? leave() : resolve()));
    });
  const io: RunnerIo<Progress> = {
    send: async (message) => {
      const done = new Promise<void>((resolve) => handled.push(resolve));
      await write(message);
      await done;
    },
    shouldStop: () => stop !== null,
  };

  const start = async (spec: Spec) => {
    let end: RunEnd;
    try {
      end = { type: 'done', ...(await run(spec, io)) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      end = { type: 'failed', message, userInput: err instanceof UserInputError };
    }
    await write(end);
    finished = true;
    process.disconnect();
  };

  process.on('message', (message: ToRunner<Spec>) => {
    if (message.type === 'start') void start(message.spec);
    else if (message.type === 'stop') stop = message.reason;
    else handled.shift()?.();
  });
  process.on('disconnect', leave);
}
