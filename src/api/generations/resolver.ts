import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { canCancel } from '../../db/job-status';
import { checkpointOf, trainingJobOf } from '../common/generating-model-fields';
import { canCancelField } from '../common/job-actions';
import { ATTEMPT_HISTORY, JobAttempt } from '../common/job-attempts';
import type { RequestContext, SubscribeData } from '../context';
import { BaseModel } from '../models/types';
import { Checkpoint, TrainingJob } from '../training-jobs/types';
import { CreateGenerationInput, Generation, GenerationEvent } from './types';

@Resolver(() => Generation)
export class GenerationResolver {
  @Query(() => Generation, { description: 'One generation of the project (NOT_FOUND otherwise).' })
  generation(
    @Arg('id', () => ID, { description: 'Generation id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<Generation> {
    return services.generations.jobs.get(principal, id);
  }

  @FieldResolver(() => [JobAttempt], ATTEMPT_HISTORY)
  attemptHistory(@Root() g: Generation, @Ctx() { loaders }: RequestContext): Promise<JobAttempt[]> {
    return loaders.attempts.load(g.id);
  }

  @FieldResolver(() => Boolean, canCancelField('cancelGeneration'))
  canCancel(@Root() g: Generation): boolean {
    return canCancel(g.status);
  }

  @FieldResolver(() => BaseModel, { description: 'The registered model (alone, or under a checkpoint).' })
  async baseModel(@Root() g: Generation, @Ctx() { loaders }: RequestContext): Promise<BaseModel> {
    return (await loaders.baseModel.load(g.baseModelId)) as BaseModel;
  }

  @FieldResolver(() => TrainingJob, {
    nullable: true,
    description: 'The training job whose checkpoint runs.',
  })
  trainingJob(@Root() g: Generation, @Ctx() ctx: RequestContext): Promise<TrainingJob | null> {
    return trainingJobOf(g, ctx);
  }

  @FieldResolver(() => Checkpoint, { nullable: true, description: 'The checkpoint that runs.' })
  checkpoint(@Root() g: Generation, @Ctx() ctx: RequestContext): Promise<Checkpoint | null> {
    return checkpointOf(g, ctx);
  }

  @Mutation(() => Generation, {
    description:
      'Queues a prompt for a model or checkpoint to answer on a worker (the API never runs a model); follow it with generationStream. Bad input stores nothing.',
  })
  createGeneration(
    @Arg('input', () => CreateGenerationInput, { description: 'The prompt, model and sampling.' })
    input: CreateGenerationInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<Generation> {
    return services.generations.jobs.create(principal, input);
  }

  @Mutation(() => Generation, {
    description:
      'Cancels a generation: a QUEUED one at once; a RUNNING one stops after its current token and keeps its text. CONFLICT for finished ones.',
  })
  cancelGeneration(
    @Arg('id', () => ID, { description: 'Generation id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<Generation> {
    return services.generations.jobs.cancel(principal, id);
  }

  @Subscription(() => GenerationEvent, {
    description:
      'The text of a generation as it is decoded: a DELTA event per piece (those already generated first, for a late subscriber), then one FINAL event with the whole text; ends after it.',
    subscribe: ({ args, context }: SubscribeData<{ id: string }>) =>
      context.services.generations.streams.stream(context.principal, args.id),
  })
  generationStream(
    @Arg('id', () => ID, { description: 'Generation id.' }) _id: string,
    @Root() event: GenerationEvent,
  ): GenerationEvent {
    return event;
  }
}
