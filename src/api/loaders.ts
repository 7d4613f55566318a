/**
 * Per-request batching of the lookups that lists fan out into (a page of jobs each showing its model and
 * dataset): one query per kind instead of one per row. Scoped to the caller's project.
 */
import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { BaseModelEntity, DatasetEntity } from '../db/entities';

export interface Loaders {
  baseModel: DataLoader<string, BaseModelEntity | null>;
  dataset: DataLoader<string, DatasetEntity | null>;
}

function byId<T extends { id: string }>(
  db: DataSource,
  entity: new () => T,
  projectId: string,
): DataLoader<string, T | null> {
  return new DataLoader(async (ids) => {
    const rows = await db.getRepository(entity).findBy({ id: In([...ids]), projectId } as never);
    const map = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => map.get(id) ?? null);
  });
}

export function createLoaders(db: DataSource, projectId: string): Loaders {
  return {
    baseModel: byId(db, BaseModelEntity, projectId),
    dataset: byId(db, DatasetEntity, projectId),
  };
}
