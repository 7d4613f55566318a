/**
 * The IPC protocol between a worker and the child process that runs one job, shared by every kind of job; each
 * kind adds its own progress messages (`FromRunner<P>`). The worker acknowledges each progress message once it
 * has handled it (stored, published), and the child waits for that before going on: so it is never more than
 * one message ahead of the database, and a stop request (sent before that acknowledgement) ends the run at the
 * step or batch the request arrived in.
 */
export type StopReason = 'cancel' | 'shutdown';

export type ToRunner<Spec> =
  | { type: 'start'; spec: Spec }
  | { type: 'stop'; reason: StopReason }
  /** The oldest unacknowledged progress message is handled. */
  | { type: 'handled' };

/** How a run ends, as the child reports it (a child that dies reports nothing). */
export type RunEnd =
  /** `stopped`: a stop request ended the run before its end. */
  | { type: 'done'; stopped: boolean }
  /** `userInput`: the job's own input is at fault (bad data, bad settings), not the machine. */
  | { type: 'failed'; message: string; userInput: boolean };

export type FromRunner<Progress> = Progress | RunEnd;
