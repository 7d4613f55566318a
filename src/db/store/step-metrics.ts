/** The one writer of `training_step_metrics`: a job's step series. */
import { STEP_FIELDS, STEP_FIELD_NAMES, type StepEvent, stepColumn } from '../../training/progress';
import type { Queryable } from '../query';

/** One multi-row upsert of the step series: a column and an unnest array per STEP_FIELDS entry. */
const INSERT_STEPS = (() => {
  const columns = [...STEP_FIELD_NAMES.map(stepColumn), 'extra', 'recorded_at'];
  const types = [...STEP_FIELD_NAMES.map((f) => STEP_FIELDS[f]), 'jsonb', 'timestamptz'];
  const updates = columns.filter((c) => c !== 'step').map((c) => `${c} = EXCLUDED.${c}`);
  return `INSERT INTO training_step_metrics (job_id, ${columns.join(', ')})
    SELECT $1, * FROM unnest(${types.map((t, i) => `$${i + 2}::${t}[]`).join(', ')})
    ON CONFLICT (job_id, step) DO UPDATE SET ${updates.join(', ')}`;
})();

export type RecordedStep = StepEvent & { recordedAt: Date };

/** Stores steps (a step stored before is overwritten: a run after a resume runs it again). */
export async function insertSteps(
  db: Queryable,
  jobId: string,
  rows: readonly RecordedStep[],
): Promise<void> {
  await db.query(INSERT_STEPS, [
    jobId,
    ...STEP_FIELD_NAMES.map((f) => rows.map((r) => r[f])),
    rows.map((r) => (r.extra ? JSON.stringify(r.extra) : null)),
    rows.map((r) => r.recordedAt),
  ]);
}

/** Forgets the steps after `step`: they belong to a run that is gone and are run again. */
export async function forgetStepsAfter(db: Queryable, jobId: string, step: number): Promise<void> {
  await db.query(`DELETE FROM training_step_metrics WHERE job_id = $1 AND step > $2`, [jobId, step]);
}
