/** The one writer of `base_models`: a registered model folder's facts, stored once. */
import type { DeepPartial, EntityManager } from 'typeorm';
import { BaseModelEntity } from '../entities';

export function insertBaseModel(
  db: Pick<EntityManager, 'getRepository'>,
  model: DeepPartial<BaseModelEntity>,
): Promise<BaseModelEntity> {
  return db.getRepository(BaseModelEntity).save(model);
}
