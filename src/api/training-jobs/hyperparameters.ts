/**
 * The API's view of the one hyperparameter specification (src/training/hyperparameters): the GraphQL enums of
 * its enum fields (value names are the upper-case values, so `COSINE` arrives as the engine's 'cosine'), and a
 * stored job's values as `TrainingHyperparameters` shows them. Checking and defaults are the specification's.
 */
import { registerEnumType } from 'type-graphql';
import {
  JobHyperparameters,
  fieldSpec,
  namesOf,
  type HyperparameterName,
} from '../../training/hyperparameters';
import type { BaseModelEntity } from '../../db/entities';
import { EnumField, apiValueName, appliesTo, type SpecContext } from '../../training/hyperparameters/field';
import type { MethodName, ScaleName } from '../../vocabulary';

/** A GraphQL enum ({NAME: value}) registered from an enum field's declaration. */
function graphqlEnum<V extends string>(field: EnumField<V>): Record<string, V> {
  const values = Object.fromEntries(field.values.map((v) => [apiValueName(v), v])) as Record<string, V>;
  registerEnumType(values, {
    name: field.enumName,
    description: field.enumDescription,
    valuesConfig: Object.fromEntries(
      field.values.map((v) => [apiValueName(v), { description: field.valueDescriptions[v] }]),
    ),
  });
  return values;
}

/**
 * What a registered base model tells the specification: its sequence limit and the defaults its config.json
 * recommends. `createTrainingJob` and `hyperparameterSpecification` both resolve with it.
 */
export function modelSpecContext(
  model: Pick<BaseModelEntity, 'maxSequenceLength' | 'recommendedHyperparameters'> | null,
): SpecContext {
  return {
    modelMaxSequenceLength: model?.maxSequenceLength,
    recommended: model?.recommendedHyperparameters ?? null,
  };
}

/** The fields the API takes and shows, in schema order. */
export const API_FIELDS = namesOf('job');

const GRAPHQL_ENUMS = new Map(
  API_FIELDS.flatMap((name) => {
    const spec = fieldSpec(name);
    return spec.type === 'enum' ? [[name, graphqlEnum(spec)] as const] : [];
  }),
);

/** The registered GraphQL enum of an enum field. */
export function graphqlEnumOf(name: HyperparameterName): Record<string, string> {
  const found = GRAPHQL_ENUMS.get(name);
  if (!found) throw new Error(`${name} is not an enum field`);
  return found;
}

/** Also the evaluation jobs' provider. */
export const ExecutionProvider = graphqlEnumOf('executionProvider') as { [K in ExecutionProvider]: K };
export type ExecutionProvider = JobHyperparameters['executionProvider'];

/** The hyperparameters as the API takes and shows them (enums as their values, LoRA targets as a list). */
export type ApiHyperparameters = {
  [K in HyperparameterName]?: number | boolean | string | string[] | null;
};

/**
 * A job's stored hyperparameters in the API's form; fields that do not apply to its method or parameter scale
 * are null.
 */
export function toApiHyperparameters(
  stored: Record<string, unknown>,
  method: MethodName,
  parameterScale: ScaleName,
): ApiHyperparameters {
  const out: ApiHyperparameters = {};
  for (const name of API_FIELDS) {
    const value = stored[name];
    if (value === undefined || !appliesTo(fieldSpec(name), { method, parameterScale })) out[name] = null;
    else if (value === 'all-linear') out[name] = ['all-linear'];
    else out[name] = value as number | boolean | string | string[] | null;
  }
  return out;
}
