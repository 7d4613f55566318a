/**
 * What one run of an evaluation job needs, read from PostgreSQL (any worker on any machine can): the model
 * folders, the settings, and the dataset rows not scored yet, so a job taken over or requeued after a shutdown
 * continues where it stopped.
 */
import type { EntityManager } from 'typeorm';
import type { EvaluationJobEntity } from '../../db/entities';
import { engineName } from '../../vocabulary';
import type { EvaluationRunSpec } from '../../evaluation/run-evaluation';
import type { TokenizeOptions } from '../../evaluation/text';

/** The scoring options of a job row. */
export function scoringOf(job: EvaluationJobEntity): TokenizeOptions {
  return {
    segmenter: engineName(job.segmenter),
    stopwords:
      job.stopwords === 'CUSTOM'
        ? (job.customStopwords ?? [])
        : job.stopwords === 'NONE'
          ? 'none'
          : 'default',
  };
}

export async function planEvaluation(
  db: EntityManager,
  job: EvaluationJobEntity,
): Promise<EvaluationRunSpec> {
  const rows: { index: number; data: unknown }[] = await db.query(
    `SELECT r.index, r.data FROM dataset_rows r
      WHERE r.dataset_id = $1 AND ($2::text IS NULL OR r.split = $2)
        AND NOT EXISTS (SELECT 1 FROM evaluation_samples s WHERE s.evaluation_id = $3 AND s.index = r.index)
      ORDER BY r.index`,
    [job.datasetId, job.datasetSplit, job.id],
  );
  return {
    modelPath: job.modelPath,
    adapterPath: job.adapterPath,
    rows: rows.map((r) => r.data),
    indices: rows.map((r) => r.index),
    generation: {
      maxNewTokens: job.maxNewTokens,
      temperature: job.temperature,
      topP: job.topP,
      seed: job.seed,
      batchSize: job.batchSize,
    },
    scoring: scoringOf(job),
    executionProvider: engineName(job.executionProvider),
  };
}
