/**
 * Training jobs for the job runner: a run continues from the job's latest checkpoint (the steps after it are run
 * again), relays every step to Redis at once and to PostgreSQL in batches, and records each checkpoint after the
 * steps before it.
 */
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { recordCheckpoint } from '../../db/store/checkpoints';
import { forgetStepsAfter } from '../../db/store/step-metrics';
import { describeGpus } from '../../engine/gpu-devices';
import { statusEvent } from '../../queue/events';
import type { EventPublisher } from '../../queue/publisher';
import { deviceMemoryBudget, gib } from '../../training/memory-plan';
import type { TrainingRunSpec } from '../../training/run-job';
import type { JobDefinition } from '../job-runner';
import { jobOutputDir, planRun } from './job-spec';
import type { TrainingProgress } from './messages';
import { MetricsWriter } from './metrics-writer';

export interface TrainingJobsDeps {
  db: DataSource;
  publisher: EventPublisher;
  dataDir: string;
  metricsBatchSize: number;
  metricsFlushMs: number;
  log(message: string, err?: unknown): void;
}

export function trainingJobs(
  deps: TrainingJobsDeps,
): JobDefinition<'training', TrainingRunSpec, TrainingProgress> {
  return {
    kind: 'training',
    runnerModule: path.join(__dirname, 'runner'),
    claimPatch: (jobId) => ({ output_dir: jobOutputDir(deps.dataDir, jobId) }),
    plan: async (m, job) => {
      const plan = await planRun(m, job, job.outputDir as string);
      // Steps after the checkpoint this run starts from belong to a run that is gone; they are run again.
      await forgetStepsAfter(m, job.id, plan.startStep);
      return plan.spec;
    },
    where: (spec) => (spec.executionProvider === 'cpu' ? 'cpu' : gpuWhere(spec.executionProvider)),
    open: (job, run) => {
      const writer = new MetricsWriter(deps.db, job.id, {
        batchSize: deps.metricsBatchSize,
        flushMs: deps.metricsFlushMs,
        onCancelRequested: () => run.stop('cancel'),
        onError: (err) => deps.log(`training job ${job.id}: writing metrics failed`, err),
      });
      return {
        handle: async (message) => {
          if (message.type === 'step') {
            writer.add(message.event);
            await deps.publisher.publishStep({
              type: 'step',
              jobId: job.id,
              projectId: job.projectId,
              ...message.event,
              extra: message.event.extra ?? null,
              at: new Date().toISOString(),
            });
          } else {
            await writer.flush();
            await recordCheckpoint(deps.db, job.id, message.checkpoint);
          }
        },
        drain: () => writer.flush(),
        close: () => writer.close(),
      };
    },
    succeeded: { patch: { progress: 1 } },
    announce: (t) => deps.publisher.publishStatus(statusEvent(t)),
  };
}

/** e.g. "webgpu (GPUs: NVIDIA H100 80GB HBM3; device memory 71.8 GiB: 90% of the GPU's free memory)". */
function gpuWhere(provider: string): string {
  const device = deviceMemoryBudget();
  const limit = device
    ? `${gib(device.bytes)}: ${device.what}`
    : 'unknown, no device check (set WHETSTONE_GPU_MEMORY)';
  return `${provider} (GPUs: ${describeGpus()}; device memory ${limit})`;
}
