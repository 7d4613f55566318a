/**
 * What an evaluation or a generation runs, as their GraphQL fields resolve it: the training job and the checkpoint
 * (null for a base model alone), batched per request by the evaluation loaders.
 */
import type { GeneratingJobEntity } from '../../db/entities';
import type { RequestContext } from '../context';
import type { Checkpoint, TrainingJob } from '../training-jobs/types';

type Run = Pick<GeneratingJobEntity, 'trainingJobId' | 'checkpointId'>;

export async function trainingJobOf(run: Run, ctx: RequestContext): Promise<TrainingJob | null> {
  if (!run.trainingJobId) return null;
  return (await ctx.services.evaluations.queries
    .loaders(ctx)
    .trainingJob.load(run.trainingJobId)) as TrainingJob;
}

export async function checkpointOf(run: Run, ctx: RequestContext): Promise<Checkpoint | null> {
  if (!run.checkpointId) return null;
  return ctx.services.evaluations.queries.loaders(ctx).checkpoint.load(run.checkpointId);
}
