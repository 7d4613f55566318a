import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context';
import { BaseModel, RegisterModelInput } from './types';

@Resolver(() => BaseModel)
export class ModelResolver {
  @Query(() => [BaseModel], { description: "The project's registered models, newest first." })
  models(@Ctx() { principal, services }: RequestContext): Promise<BaseModel[]> {
    return services.models.list(principal);
  }

  @Query(() => BaseModel, { description: 'One model of the project (NOT_FOUND otherwise).' })
  model(
    @Arg('id', () => ID, { description: 'Model id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<BaseModel> {
    return services.models.get(principal, id);
  }

  @Mutation(() => BaseModel, {
    description: 'Registers a Hugging Face model folder, reading its architecture, size and limits.',
  })
  registerModel(
    @Arg('input', () => RegisterModelInput, { description: 'The folder.' }) input: RegisterModelInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<BaseModel> {
    return services.models.register(principal, input);
  }
}
