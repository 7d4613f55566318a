/** The one writer of `base_models`: a registered model folder's facts, stored once (setup may add recommendations). */
import type { DeepPartial, EntityManager } from 'typeorm';
import type { Recommendations } from '../../training/hyperparameters';
import { BaseModelEntity } from '../entities';

export function insertBaseModel(
  db: Pick<EntityManager, 'getRepository'>,
  model: DeepPartial<BaseModelEntity>,
): Promise<BaseModelEntity> {
  return db.getRepository(BaseModelEntity).save(model);
}

/** The recommended hyperparameters of a model registered before its folder said them (setup, for the demo model). */
export async function setRecommendedHyperparameters(
  db: Pick<EntityManager, 'query'>,
  id: string,
  recommended: Recommendations,
): Promise<void> {
  await db.query(`UPDATE base_models SET recommended_hyperparameters = $1 WHERE id = $2`, [
    JSON.stringify(recommended),
    id,
  ]);
}
