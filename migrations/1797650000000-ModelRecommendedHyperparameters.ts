import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hyperparameter defaults a registered model's config.json recommends (whetstone.recommended_hyperparameters,
 * by parameter scale), read at registration so jobs and the specification query take them without opening the
 * folder. Rows registered before stay NULL (no recommendation).
 */
export class ModelRecommendedHyperparameters1797650000000 implements MigrationInterface {
  name = 'ModelRecommendedHyperparameters1797650000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE base_models ADD COLUMN recommended_hyperparameters jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE base_models DROP COLUMN recommended_hyperparameters`);
  }
}
