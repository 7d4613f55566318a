/**
 * The registered metrics as stored columns, one column per number under its flat score name (ROUGE as precision,
 * recall and F), shared by the aggregate columns of an evaluation job and the columns of each sample.
 */
import { Column } from 'typeorm';
import { FLAT_SCORE_NAMES, FlatScoreName, SampleScores, unflattenScores } from '../../evaluation/metrics';

/** A row's score columns; null on a job until it has results. */
export type ScoreColumns = Record<FlatScoreName, number | null>;

/** The embedded entity of the score columns: one `double precision` column per flat score, under its name. */
export const ScoreColumns = class ScoreColumns {} as new () => ScoreColumns;
for (const name of FLAT_SCORE_NAMES) {
  Column({ name, type: 'double precision', nullable: true })(ScoreColumns.prototype, name);
}

/** Stored columns back to scores; null when the row has none (a job without results). */
export function scoresOf(c: ScoreColumns): SampleScores | null {
  return FLAT_SCORE_NAMES.every((name) => c[name] !== null && c[name] !== undefined)
    ? unflattenScores(c as Record<FlatScoreName, number>)
    : null;
}
