/** The child process that trains one job (src/worker/child.ts serves it): steps and checkpoints go to the worker. */
import { runTrainingJob, type StepEvent, type TrainingRunSpec } from '../../training/run-job';
import { serveJob } from '../child';
import { gpuMemoryReporter } from './gpu-memory-report';
import type { TrainingProgress } from './messages';

serveJob<TrainingRunSpec, TrainingProgress>(async (spec, io) => {
  let last: StepEvent | null = null;
  const withGpuMemory = gpuMemoryReporter(spec.executionProvider);
  await runTrainingJob(spec, {
    onStep: (event) => {
      last = event;
      return io.send({ type: 'step', event: withGpuMemory(event) });
    },
    onCheckpoint: (checkpoint) => io.send({ type: 'checkpoint', checkpoint }),
    shouldStop: io.shouldStop,
  });
  const completed = last !== null && (last as StepEvent).step >= (last as StepEvent).totalSteps;
  return { stopped: io.shouldStop() && !completed };
});
