import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A registered model's shape (hidden size, layers, heads, intermediate size, vocabulary), read from config.json at
 * registration, so the API can estimate a job's memory without opening the folder. Rows registered before stay
 * NULL (their jobs are checked by the worker only).
 */
export class ModelShape1797100000000 implements MigrationInterface {
  name = 'ModelShape1797100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE base_models ADD COLUMN shape jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE base_models DROP COLUMN shape`);
  }
}
