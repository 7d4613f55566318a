import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A job's hyperparameters are stored once, in `hyperparameters`: the `checkpoint_every_steps` column repeated
 * `checkpointEverySteps` under a stricter check (> 0) than the documented range (0: only at the end), so a
 * documented value failed the insert.
 */
export class HyperparametersStoredOnce1797000000000 implements MigrationInterface {
  name = 'HyperparametersStoredOnce1797000000000';

  async up(q: QueryRunner): Promise<void> {
    // Rows written before the column was dropped hold the same value in both places; keep the jsonb's.
    await q.query(`
      UPDATE training_jobs
         SET hyperparameters = hyperparameters || jsonb_build_object('checkpointEverySteps', checkpoint_every_steps)
       WHERE NOT hyperparameters ? 'checkpointEverySteps'`);
    await q.query(`ALTER TABLE training_jobs DROP COLUMN checkpoint_every_steps`);
  }

  async down(q: QueryRunner): Promise<void> {
    // The old column cannot hold 0 ("only at the end"); such jobs get the old API default of 50 there.
    await q.query(`ALTER TABLE training_jobs ADD COLUMN checkpoint_every_steps integer`);
    await q.query(`
      UPDATE training_jobs
         SET checkpoint_every_steps = COALESCE(NULLIF((hyperparameters->>'checkpointEverySteps')::int, 0), 50)`);
    await q.query(`
      ALTER TABLE training_jobs
        ALTER COLUMN checkpoint_every_steps SET NOT NULL,
        ADD CONSTRAINT training_jobs_checkpoint_every_steps_check CHECK (checkpoint_every_steps > 0)`);
  }
}
