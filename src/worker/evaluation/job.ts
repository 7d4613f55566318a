/**
 * Evaluation jobs for the job runner: a run generates and scores the rows not scored yet, stores each batch of
 * samples as it arrives (and the progress with it; the runner generates the next once it is), and at the end stores
 * the means of every score with SUCCEEDED. A run taken over or requeued after a shutdown scores only the rest.
 */
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { storeSamples } from '../../db/store/evaluation-samples';
import { startEvaluationRun, storeEvaluationAggregates } from '../../db/store/jobs';
import type { EvaluationRunSpec } from '../../evaluation/run-evaluation';
import { evaluationStatusEvent } from '../../queue/evaluation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { JobDefinition } from '../job-runner';
import type { EvaluationProgress } from './messages';
import { planEvaluation } from './plan';

export interface EvaluationJobsDeps {
  db: DataSource;
  publisher: EventPublisher;
}

export function evaluationJobs(
  deps: EvaluationJobsDeps,
): JobDefinition<'evaluation', EvaluationRunSpec, EvaluationProgress> {
  const { db, publisher } = deps;
  return {
    kind: 'evaluation',
    runnerModule: path.join(__dirname, 'runner'),
    plan: planEvaluation,
    where: (spec) => spec.executionProvider,
    open: (job, run) => {
      const progress = (done: number, total: number) =>
        publisher.publishEvaluation({
          type: 'evaluation-samples',
          jobId: job.id,
          projectId: job.projectId,
          samplesDone: done,
          samplesTotal: total,
          at: new Date().toISOString(),
        });
      return {
        handle: async (message) => {
          if (message.type === 'started') {
            const row = await startEvaluationRun(db, job.id, message.total, message.skipped);
            await progress(row.samples_done, row.samples_total);
          } else {
            const row = await storeSamples(db, job.id, message.samples);
            // The database is the cancellation's record; a missed Redis message still stops the run here.
            if (row.cancel_requested_at) run.stop('cancel');
            await progress(row.samples_done, row.samples_total ?? row.samples_done);
          }
        },
      };
    },
    succeeded: { also: storeEvaluationAggregates },
    announce: (t) => publisher.publishEvaluation(evaluationStatusEvent(t)),
  };
}
