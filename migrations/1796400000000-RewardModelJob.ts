import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An RL job's reward model: a finished REWARD_MODEL job of the same project, whose final checkpoint scores the
 * sampled completions. A reward job that RL jobs used cannot be deleted from under them.
 */
export class RewardModelJob1796400000000 implements MigrationInterface {
  name = 'RewardModelJob1796400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE training_jobs
        ADD COLUMN reward_model_job_id uuid REFERENCES training_jobs (id),
        ADD CONSTRAINT training_jobs_reward_model_only_rl CHECK (reward_model_job_id IS NULL OR method = 'RL')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE training_jobs DROP COLUMN reward_model_job_id`);
  }
}
