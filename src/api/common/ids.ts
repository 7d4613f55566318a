import type { DataSource, EntityTarget, FindOptionsWhere } from 'typeorm';
import type { ProjectOwnedEntity } from '../../db/entities';
import type { Principal } from '../context';

/** Object ids are UUIDs; anything else cannot name an object, so it is answered like an unknown id. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/**
 * The row of the caller's project with this id, or null: another project's row reads as absent (ids do not leak
 * across projects), and so does an id that is no UUID.
 */
export async function findInProject<T extends ProjectOwnedEntity>(
  db: DataSource,
  entity: EntityTarget<T>,
  principal: Principal,
  id: string,
): Promise<T | null> {
  if (!isUuid(id)) return null;
  return db.getRepository(entity).findOneBy({ id, projectId: principal.projectId } as FindOptionsWhere<T>);
}
