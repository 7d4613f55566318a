import { GraphQLJSONObject } from 'graphql-scalars';
import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { DatasetSplit } from '../../db/entities';
import { EVALUATION_DATASET_KIND } from '../../vocabulary';
import type { RequestContext } from '../context';
import { CreateDatasetInput, Dataset } from './types';

@Resolver(() => Dataset)
export class DatasetResolver {
  @Query(() => [Dataset], { description: "The project's datasets, newest first." })
  datasets(@Ctx() { principal, services }: RequestContext): Promise<Dataset[]> {
    return services.datasets.list(principal);
  }

  @Query(() => Dataset, { description: 'One dataset of the project (NOT_FOUND otherwise).' })
  dataset(
    @Arg('id', () => ID, { description: 'Dataset id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<Dataset> {
    return services.datasets.get(principal, id);
  }

  @FieldResolver(() => Boolean, {
    description:
      'Whether evaluations can score it: its rows have reference responses (createEvaluationJob refuses others).',
  })
  evaluable(@Root() dataset: Dataset): boolean {
    return dataset.kind === EVALUATION_DATASET_KIND;
  }

  @FieldResolver(() => [GraphQLJSONObject], {
    description:
      'Normalized rows in file order, a page at a time; a page stops early once it holds 16 MiB (continue at offset + rows returned).',
  })
  rows(
    @Root() dataset: Dataset,
    @Arg('validation', {
      defaultValue: false,
      description: 'True: the validation rows; false: the training rows. Default: false.',
    })
    validation: boolean,
    @Arg('offset', () => Int, { defaultValue: 0, description: 'Rows to skip. Default: 0.' }) offset: number,
    @Arg('limit', () => Int, { defaultValue: 20, description: 'Rows to return, 1 to 1000. Default: 20.' })
    limit: number,
    @Ctx() { services }: RequestContext,
  ): Promise<Record<string, unknown>[]> {
    return services.datasets.rows(
      dataset.id,
      validation ? DatasetSplit.VALIDATION : DatasetSplit.TRAIN,
      offset,
      limit,
    );
  }

  @Mutation(() => Dataset, {
    description:
      'Imports a dataset, checking every row; a bad row rejects the whole import, naming its line.',
  })
  createDataset(
    @Arg('input', () => CreateDatasetInput, { description: 'The dataset.' }) input: CreateDatasetInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<Dataset> {
    return services.datasets.create(principal, input);
  }
}
