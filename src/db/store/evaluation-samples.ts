/** The one writer of `evaluation_samples`: each scored row of an evaluation. */
import type { DataSource } from 'typeorm';
import { FLAT_SCORE_NAMES as COLUMNS, flattenScores } from '../../evaluation/metrics';
import type { ScoredSample } from '../../evaluation/run-evaluation';
import { queryRows } from '../query';
import { countEvaluationSamples } from './jobs';

/** Stores a batch of samples (a repeated batch after a takeover changes nothing) and counts them on the job. */
export async function storeSamples(
  db: DataSource,
  jobId: string,
  samples: readonly ScoredSample[],
): ReturnType<typeof countEvaluationSamples> {
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
    return countEvaluationSamples(m, jobId, inserted.length);
  });
}
