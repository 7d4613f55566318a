import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The tokens a generation has handed out so far (`generated_ids`), stored with each piece of text before it is
 * published, so a run that dies (or is preempted) leaves them behind and the next run continues after them.
 */
export class GenerationProgress1797500000000 implements MigrationInterface {
  name = 'GenerationProgress1797500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE generations ADD COLUMN generated_ids integer[] NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE generations DROP COLUMN generated_ids`);
  }
}
