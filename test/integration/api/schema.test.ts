import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildSchema,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isIntrospectionType,
  isObjectType,
  isSpecifiedScalarType,
} from 'graphql';
import { SCHEMA_FILE } from '../../../src/api/emit-schema';
import { buildApiSchema, printSchemaSDL } from '../../../src/api/schema';
import { JOB_STATUSES, METHOD_NAMES, SCALE_NAMES } from '../../../src/vocabulary';

describe('GraphQL schema', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildApiSchema();
  });

  it('is exactly the committed schema/schema.graphql (run `npm run schema:emit` after changing the API)', () => {
    const committed = readFileSync(path.resolve(SCHEMA_FILE), 'utf8');
    expect(printSchemaSDL(schema)).toEqual(committed);
  });

  it('keeps enum values in the order the vocabulary declares them (clients list them so)', () => {
    const printed = buildSchema(printSchemaSDL(schema));
    const values = (name: string) => {
      const type = printed.getType(name);
      return isEnumType(type) ? type.getValues().map((v) => v.name) : [];
    };
    expect(values('TrainingJobStatus')).toEqual(JOB_STATUSES);
    expect(values('TrainingMethod')).toEqual(METHOD_NAMES);
    expect(values('ParameterScale')).toEqual(SCALE_NAMES);
  });

  it('describes every type, field, argument and enum value', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue;
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : []) {
            if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
          }
        }
      }
      if (isEnumType(type)) {
        for (const value of type.getValues())
          if (!value.description) missing.push(`${type.name}.${value.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has the operations external clients rely on', () => {
    const names = (t: ReturnType<GraphQLSchema['getQueryType']>) => Object.keys(t?.getFields() ?? {});
    expect(names(schema.getMutationType())).toEqual(
      expect.arrayContaining([
        'registerModel',
        'createDataset',
        'createTrainingJob',
        'cancelTrainingJob',
        'resumeTrainingJob',
        'createEvaluationJob',
        'cancelEvaluationJob',
        'createGeneration',
        'cancelGeneration',
        'createApiKey',
        'revokeApiKey',
      ]),
    );
    expect(names(schema.getQueryType())).toEqual(
      expect.arrayContaining([
        'models',
        'datasets',
        'trainingJob',
        'trainingJobs',
        'evaluationJob',
        'evaluationJobs',
        'evaluationResults',
        'generation',
        'compareEvaluations',
        'bestEvaluations',
      ]),
    );
    expect(names(schema.getSubscriptionType())).toEqual([
      'evaluationJobProgress',
      'generationStream',
      'trainingJobProgress',
      'trainingJobStatusChanged',
    ]);
  });

  it('states range and default in every hyperparameter description', () => {
    const input = schema.getType('TrainingHyperparametersInput');
    if (!isInputObjectType(input)) throw new Error('TrainingHyperparametersInput missing');
    for (const field of Object.values(input.getFields())) {
      expect(field.description).toMatch(/Default: .+\./);
    }
    expect(input.getFields().learningRate.description).toMatch(/Number in \(0, 1\]/);
    expect(input.getFields().epochs.description).toMatch(/Integer in \[1, 1000\]. Default: 3\./);
  });
});
