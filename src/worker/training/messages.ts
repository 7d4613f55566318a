/** The IPC protocol between a worker and the child process that trains one job. */
import type { StepEvent, TrainingHooks, TrainingRunSpec } from '../../training/run-job';

export type CheckpointEvent = Parameters<TrainingHooks['onCheckpoint']>[0];

export type StopReason = 'cancel' | 'shutdown';

export type ToRunner = { type: 'start'; spec: TrainingRunSpec } | { type: 'stop'; reason: StopReason };

export type FromRunner =
  | { type: 'step'; event: StepEvent }
  | { type: 'checkpoint'; checkpoint: CheckpointEvent }
  | { type: 'done'; finalCheckpoint: string }
  /** `userInput`: the job's own input is at fault (bad data, bad settings), not the machine. */
  | { type: 'failed'; message: string; userInput: boolean };
