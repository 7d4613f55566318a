/**
 * The IPC protocol between a worker and the child process that runs one job, shared by every kind of job; each
 * kind adds its own progress messages (`FromRunner<P>`) and acknowledgements (`ToRunner<A>`).
 */
export type StopReason = 'cancel' | 'shutdown';

export type ToRunner<Spec, Ack = never> =
  { type: 'start'; spec: Spec } | { type: 'stop'; reason: StopReason } | Ack;

/** How a run ends, as the child reports it (a child that dies reports nothing). */
export type RunEnd =
  /** `stopped`: a stop request ended the run before its end. */
  | { type: 'done'; stopped: boolean }
  /** `userInput`: the job's own input is at fault (bad data, bad settings), not the machine. */
  | { type: 'failed'; message: string; userInput: boolean };

export type FromRunner<Progress> = Progress | RunEnd;
