/**
 * Per-request batching of the lookups that lists fan out into (a page of jobs each showing its model and
 * dataset): one query per kind instead of one per row, scoped to the caller's project. Models and datasets never
 * change once created, so rows already read are kept for every later request of this process too.
 */
import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { BaseModelEntity, DatasetEntity, JobAttemptEntity } from '../db/entities';

export interface Loaders {
  baseModel: DataLoader<string, BaseModelEntity | null>;
  dataset: DataLoader<string, DatasetEntity | null>;
  /** The attempts of jobs already read through the caller's project, by job id. */
  attempts: DataLoader<string, JobAttemptEntity[]>;
}

type Scoped = { id: string; projectId: string };

/** Immutable rows by id, bounded; the oldest entry goes first. */
export class ImmutableRows<T extends Scoped> {
  private readonly rows = new Map<string, T>();

  constructor(private readonly maxEntries = 10_000) {}

  get(id: string): T | undefined {
    return this.rows.get(id);
  }

  add(row: T): void {
    if (this.rows.size >= this.maxEntries) this.rows.delete(this.rows.keys().next().value as string);
    this.rows.set(row.id, row);
  }
}

export interface RowCaches {
  baseModels: ImmutableRows<BaseModelEntity>;
  datasets: ImmutableRows<DatasetEntity>;
}

export function createRowCaches(): RowCaches {
  return { baseModels: new ImmutableRows(), datasets: new ImmutableRows() };
}

function byId<T extends Scoped>(
  db: DataSource,
  entity: new () => T,
  cache: ImmutableRows<T>,
  projectId: string,
): DataLoader<string, T | null> {
  return new DataLoader(async (ids) => {
    const missing = ids.filter((id) => !cache.get(id));
    if (missing.length) {
      const rows = await db.getRepository(entity).findBy({ id: In(missing) } as never);
      rows.forEach((r) => cache.add(r));
    }
    return ids.map((id) => {
      const row = cache.get(id);
      return row && row.projectId === projectId ? row : null;
    });
  });
}

export function createLoaders(db: DataSource, caches: RowCaches, projectId: string): Loaders {
  return {
    baseModel: byId(db, BaseModelEntity, caches.baseModels, projectId),
    dataset: byId(db, DatasetEntity, caches.datasets, projectId),
    attempts: new DataLoader(async (jobIds) => {
      const rows = await db
        .getRepository(JobAttemptEntity)
        .find({ where: { jobId: In([...jobIds]) }, order: { number: 'ASC' } });
      return jobIds.map((id) => rows.filter((r) => r.jobId === id));
    }),
  };
}
