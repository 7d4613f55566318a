/** A training runner's progress messages (src/worker/protocol.ts has the rest of the protocol). */
import type { StepEvent, TrainingHooks } from '../../training/run-job';

export type CheckpointEvent = Parameters<TrainingHooks['onCheckpoint']>[0];

export type TrainingProgress =
  { type: 'step'; event: StepEvent } | { type: 'checkpoint'; checkpoint: CheckpointEvent };
