/**
 * Per-request batching of the lookups a page of evaluations fans out into (each one's training job and
 * checkpoint): one query per kind, scoped to the caller's project. Kept beside the request's own loaders.
 */
import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { CheckpointEntity, TrainingJobEntity } from '../../db/entities';
import type { RequestContext } from '../context';

export interface EvaluationLoaders {
  trainingJob: DataLoader<string, TrainingJobEntity | null>;
  checkpoint: DataLoader<string, CheckpointEntity | null>;
}

const perRequest = new WeakMap<object, EvaluationLoaders>();

export function evaluationLoaders(db: DataSource, ctx: RequestContext): EvaluationLoaders {
  let loaders = perRequest.get(ctx.loaders);
  if (!loaders) {
    const projectId = ctx.principal.projectId;
    loaders = {
      trainingJob: new DataLoader(async (ids) => {
        const rows = await db.getRepository(TrainingJobEntity).findBy({ id: In([...ids]), projectId });
        return ids.map((id) => rows.find((r) => r.id === id) ?? null);
      }),
      // Checkpoints are reached only through an evaluation of the caller's project, which is already scoped.
      checkpoint: new DataLoader(async (ids) => {
        const rows = await db.getRepository(CheckpointEntity).findBy({ id: In([...ids]) });
        return ids.map((id) => rows.find((r) => r.id === id) ?? null);
      }),
    };
    perRequest.set(ctx.loaders, loaders);
  }
  return loaders;
}
