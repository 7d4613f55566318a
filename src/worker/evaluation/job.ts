/**
 * Evaluation jobs for the job runner: a run generates and scores the rows not scored yet, stores each batch of
 * samples as it arrives (and the progress with it; the runner generates the next once it is), and at the end stores
 * the means of every score with SUCCEEDED. A run taken over or requeued after a shutdown scores only the rest.
 */
import path from 'node:path';
import type { DataSource, EntityManager } from 'typeorm';
import { queryRows } from '../../db/query';
import { FLAT_SCORE_NAMES as COLUMNS, flattenScores } from '../../evaluation/metrics';
import type { EvaluationRunSpec, ScoredSample } from '../../evaluation/run-evaluation';
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
            const [row] = await queryRows<{ samples_done: number; samples_total: number }>(
              db,
              `UPDATE evaluation_jobs SET samples_total = samples_done + $2, skipped_rows = $3, updated_at = now()
                WHERE id = $1 RETURNING samples_done, samples_total`,
              [job.id, message.total, message.skipped],
            );
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
    succeeded: { also: storeAggregates },
    announce: (t) => publisher.publishEvaluation(evaluationStatusEvent(t)),
  };
}

/** Stores a batch of samples (a repeated batch after a takeover changes nothing) and counts them on the job. */
async function storeSamples(
  db: DataSource,
  jobId: string,
  samples: readonly ScoredSample[],
): Promise<{ samples_done: number; samples_total: number | null; cancel_requested_at: Date | null }> {
  const scores = samples.map((s) => flattenScores(s.scores));
  return db.transaction(async (m) => {
    const inserted = await queryRows<{ index: number }>(
      m,
      `INSERT INTO evaluation_samples (evaluation_id, index, prompt, reference, prediction, ${COLUMNS.join(', ')})
       SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[],
              ${COLUMNS.map((_, i) => `$${i + 6}::float8[]`).join(', ')})
       ON CONFLICT (evaluation_id, index) DO NOTHING RETURNING index`,
      [
        jobId,
        samples.map((s) => s.index),
        samples.map((s) => s.prompt),
        samples.map((s) => s.reference),
        samples.map((s) => s.prediction),
        ...COLUMNS.map((c) => scores.map((s) => s[c])),
      ],
    );
    const [row] = await queryRows<{
      samples_done: number;
      samples_total: number | null;
      cancel_requested_at: Date | null;
    }>(
      m,
      `UPDATE evaluation_jobs SET samples_done = samples_done + $2, updated_at = now() WHERE id = $1
       RETURNING samples_done, samples_total, cancel_requested_at`,
      [jobId, inserted.length],
    );
    return row;
  });
}

/** The means of every score over the stored samples, written to the job row (in the caller's transaction). */
async function storeAggregates(m: EntityManager, jobId: string): Promise<void> {
  await m.query(
    `UPDATE evaluation_jobs e SET ${COLUMNS.map((c) => `${c} = a.${c}`).join(', ')}
       FROM (SELECT ${COLUMNS.map((c) => `avg(${c}) AS ${c}`).join(', ')}
               FROM evaluation_samples WHERE evaluation_id = $1) a
      WHERE e.id = $1`,
    [jobId],
  );
}
