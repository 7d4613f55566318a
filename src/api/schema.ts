/**
 * The executable schema, built from the resolver classes. `printSchemaSDL` is what schema/schema.graphql holds:
 * a test fails when they differ, and `npm run schema:emit` rewrites the file.
 */
import 'reflect-metadata';
import { GraphQLSchema, isEnumType, lexicographicSortSchema, printSchema, printType } from 'graphql';
import { buildSchema } from 'type-graphql';
import { CheckpointResolver } from './checkpoints/resolver';
import { DatasetResolver } from './datasets/resolver';
import {
  EvaluationComparisonResolver,
  EvaluationJobResolver,
  EvaluationScoresResolver,
} from './evaluations/resolver';
import { GenerationResolver } from './generations/resolver';
import { ModelResolver } from './models/resolver';
import { ProjectResolver } from './projects/resolver';
import { TrainingJobResolver } from './training-jobs/resolver';

export const RESOLVERS = [
  ProjectResolver,
  ModelResolver,
  DatasetResolver,
  TrainingJobResolver,
  CheckpointResolver,
  EvaluationJobResolver,
  EvaluationComparisonResolver,
  EvaluationScoresResolver,
  GenerationResolver,
] as const;

let built: Promise<GraphQLSchema> | undefined;

/**
 * type-graphql insists on a PubSub for any subscription, but every subscription here brings its own stream
 * (relayed from Redis, see training-jobs/progress.ts); topic-based subscriptions are a programming error.
 */
const noTopicSubscriptions = {
  publish: () => {
    throw new Error('subscriptions use their own `subscribe` streams, not type-graphql topics');
  },
  subscribe: () => {
    throw new Error('subscriptions use their own `subscribe` streams, not type-graphql topics');
  },
};

const ROOT_DESCRIPTIONS = {
  Query:
    "Reads of the caller's project: models, datasets, training jobs with their metrics and checkpoints, evaluations and their results, generations, keys.",
  Mutation:
    'Changes to the caller’s project: register models, import datasets, create, cancel and resume jobs, evaluations, generations, keys.',
  Subscription: 'Live events over WebSocket (graphql-ws; pass the key as connectionParams.authorization).',
};

async function build(): Promise<GraphQLSchema> {
  const schema = await buildSchema({ resolvers: RESOLVERS, validate: false, pubSub: noTopicSubscriptions });
  // type-graphql has no option for the descriptions of the root types.
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (root) root.description = ROOT_DESCRIPTIONS[root.name as keyof typeof ROOT_DESCRIPTIONS];
  }
  return schema;
}

export function buildApiSchema(): Promise<GraphQLSchema> {
  built ??= build();
  return built;
}

/**
 * Types, fields and arguments sorted by name (a stable file); enum values in the order the code declares them
 * (src/vocabulary.ts: a job's statuses in the order of its life), which clients list them in.
 */
export function printSchemaSDL(schema: GraphQLSchema): string {
  const sorted = lexicographicSortSchema(schema);
  let sdl = printSchema(sorted);
  for (const type of Object.values(sorted.getTypeMap())) {
    if (isEnumType(type) && !type.name.startsWith('__')) {
      sdl = sdl.replace(printType(type), () => printType(schema.getType(type.name)!));
    }
  }
  return sdl + '\n';
}
