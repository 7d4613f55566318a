/**
 * The GraphQL types of hyperparameters, generated from the one specification (src/training/hyperparameters) so a
 * field's type, description, range and default cannot drift from the check the API applies:
 * - `TrainingHyperparametersInput` (every field optional) and `TrainingHyperparameters` (every value a job runs
 *   with; null where a field does not apply to its method or scale), one class;
 * - `HyperparameterSpecification`, what `hyperparameterSpecification` answers for front ends to build forms.
 */
import { GraphQLJSON } from 'graphql-scalars';
import { Field, Float, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import '../common/enums';
import { ParameterScale, TrainingMethod } from '../../db/entities';
import { HYPERPARAMETER_RULES, type HyperparameterRule } from '../../training/hyperparameters/rules';
import {
  type FieldSpec,
  MODULE_NAME,
  RECOMMENDATION_NOTE,
  type SpecContext,
  apiLimits,
  apiValueName,
  appliesTo,
  defaultFor,
  defaultOf,
  defaultText,
  describeField,
  recommendationOf,
  valueText,
} from '../../training/hyperparameters/field';
import { fieldSpec, type HyperparameterName } from '../../training/hyperparameters';
import { METHOD_NAMES, SCALE_NAMES } from '../../vocabulary';
import { API_FIELDS, ApiHyperparameters, graphqlEnumOf } from './hyperparameters';

// Declaration merging gives the class the specification's fields as properties.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface TrainingHyperparameters extends ApiHyperparameters {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class TrainingHyperparameters {}

function graphqlType(name: HyperparameterName, spec: FieldSpec) {
  switch (spec.type) {
    case 'int':
    case 'float':
      return apiLimits(spec).type === 'int' ? () => Int : () => Float;
    case 'boolean':
      return () => Boolean;
    case 'string':
      return () => String;
    case 'modules':
      return () => [String];
    case 'enum':
      return () => graphqlEnumOf(name);
  }
}

for (const name of API_FIELDS) {
  const spec = fieldSpec(name);
  Field(graphqlType(name, spec), { nullable: true, description: describeField(spec) })(
    TrainingHyperparameters.prototype,
    name,
  );
}
ObjectType('TrainingHyperparameters', {
  description: 'The hyperparameters a job runs with, defaults filled in; null where a field does not apply.',
})(TrainingHyperparameters);
InputType('TrainingHyperparametersInput', {
  description: `Hyperparameters of a new job; every field is optional and has a documented default. ${RECOMMENDATION_NOTE}`,
})(TrainingHyperparameters);

export enum HyperparameterType {
  INT = 'INT',
  FLOAT = 'FLOAT',
  BOOLEAN = 'BOOLEAN',
  STRING = 'STRING',
  ENUM = 'ENUM',
  STRING_LIST = 'STRING_LIST',
}

registerEnumType(HyperparameterType, {
  name: 'HyperparameterType',
  description: 'The kind of value a hyperparameter takes.',
  valuesConfig: {
    INT: { description: 'A whole number within minimum and maximum.' },
    FLOAT: { description: 'A number within minimum (exclusive when minimumExclusive) and maximum.' },
    BOOLEAN: { description: 'true or false.' },
    STRING: { description: 'Text of at most maxLength characters, or null.' },
    ENUM: { description: 'One of allowedValues (a GraphQL enum value).' },
    STRING_LIST: {
      description:
        'A list of at most maxItems names matching itemPattern, of at most itemMaxLength characters.',
    },
  },
});

@ObjectType({ description: 'One hyperparameter: its type, limits, default and where it applies.' })
export class HyperparameterField {
  @Field({ description: 'The field name in TrainingHyperparametersInput.' })
  name: string;

  @Field(() => HyperparameterType, { description: 'The kind of value; the API type of the input field.' })
  type: HyperparameterType;

  @Field({
    description: 'Whether null is a value of its own (it always counts as "use the default" on input).',
  })
  nullable: boolean;

  @Field(() => Float, { nullable: true, description: 'Least value (INT, FLOAT).' })
  minimum: number | null;

  @Field({ description: 'Whether the minimum itself is excluded.' })
  minimumExclusive: boolean;

  @Field(() => Float, {
    nullable: true,
    description: 'Greatest value (INT, FLOAT), for the given base model where it depends on it.',
  })
  maximum: number | null;

  @Field(() => [String], { nullable: true, description: 'The enum values accepted (ENUM).' })
  allowedValues: string[] | null;

  @Field(() => Int, { nullable: true, description: 'Most characters (STRING).' })
  maxLength: number | null;

  @Field(() => Int, { nullable: true, description: 'Most entries (STRING_LIST).' })
  maxItems: number | null;

  @Field(() => Int, { nullable: true, description: 'Most characters of one entry (STRING_LIST).' })
  itemMaxLength: number | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Regular expression every entry matches (STRING_LIST), besides the single entry "all-linear".',
  })
  itemPattern: string | null;

  @Field(() => GraphQLJSON, {
    nullable: true,
    description:
      "The default for the given method, parameter scale and base model (the model's recommendation first, where it has one for the scale and the field applies; enum values by name); null where it is null or depends on what was not given.",
  })
  default: unknown;

  @Field({
    description:
      'The default in words, including how it depends on the model, method or scale, and whether the base model recommends it.',
  })
  defaultDescription: string;

  @Field(() => [TrainingMethod], { description: 'Methods the field applies to.' })
  methods: TrainingMethod[];

  @Field(() => [ParameterScale], { description: 'Parameter scales the field applies to.' })
  parameterScales: ParameterScale[];

  @Field({
    description:
      'Whether the field applies to the given method and parameter scale (true for parts not given); createTrainingJob refuses a field that does not.',
  })
  applies: boolean;

  @Field({ description: 'What it does, its range, where it applies and its default.' })
  description: string;
}

@ObjectType({ description: 'A rule between hyperparameters, the base model or the dataset.' })
export class HyperparameterRuleInfo {
  @Field(() => [String], { description: 'The fields the rule ties together.' })
  fields: string[];

  @Field({ description: 'The rule in words.' })
  description: string;
}

@ObjectType({
  description:
    'Every hyperparameter createTrainingJob takes, in a stable order, with the rules between them: enough to build a creation form.',
})
export class HyperparameterSpecification {
  @Field(() => [HyperparameterField], {
    description: 'Every field of TrainingHyperparametersInput, in order.',
  })
  fields: HyperparameterField[];

  @Field(() => [HyperparameterRuleInfo], {
    description: 'Rules between fields, the base model and the dataset; createTrainingJob applies each.',
  })
  rules: HyperparameterRuleInfo[];
}

const TYPE_OF: Record<FieldSpec['type'], HyperparameterType> = {
  int: HyperparameterType.INT,
  float: HyperparameterType.FLOAT,
  boolean: HyperparameterType.BOOLEAN,
  string: HyperparameterType.STRING,
  enum: HyperparameterType.ENUM,
  modules: HyperparameterType.STRING_LIST,
};

function describeForForm(name: HyperparameterName, ctx: SpecContext): HyperparameterField {
  const spec = fieldSpec(name);
  const number = spec.type === 'int' || spec.type === 'float' ? apiLimits(spec) : null;
  const maxFor = number && 'maxFor' in spec ? spec.maxFor : undefined;
  const recommended = recommendationOf(name, spec, ctx);
  const dflt = recommended ?? defaultOf(spec, ctx, defaultsBefore(name, ctx));
  return {
    name,
    type: number ? TYPE_OF[number.type] : TYPE_OF[spec.type],
    nullable: 'nullable' in spec && spec.nullable === true,
    minimum: number?.min ?? null,
    minimumExclusive: number?.minExclusive ?? false,
    maximum: number ? (maxFor ? maxFor(ctx) : number.max) : null,
    allowedValues: spec.type === 'enum' ? spec.values.map(apiValueName) : null,
    maxLength: spec.type === 'string' ? spec.maxLength : null,
    maxItems: spec.type === 'modules' ? spec.maxItems : null,
    itemMaxLength: spec.type === 'modules' ? spec.itemMaxLength : null,
    itemPattern: spec.type === 'modules' ? MODULE_NAME.source : null,
    default: apiDefault(spec, dflt),
    defaultDescription:
      recommended === undefined
        ? defaultText(spec)
        : `${valueText(spec, recommended)}, recommended by the base model (the field's own: ${defaultText(spec)})`,
    methods: [...(spec.methods ?? METHOD_NAMES)] as TrainingMethod[],
    parameterScales: [...(spec.scales ?? SCALE_NAMES)] as ParameterScale[],
    applies: appliesTo(spec, ctx),
    description: describeField(spec),
  };
}

/** The value as the API shows it: enum values by name, the LoRA targets as a list. */
function apiDefault(spec: FieldSpec, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (spec.type === 'enum') return apiValueName(String(value));
  return value === 'all-linear' ? ['all-linear'] : value;
}

/** The defaults of the fields before `name`, which a default may depend on. */
function defaultsBefore(name: HyperparameterName, ctx: SpecContext): Record<string, unknown> {
  const earlier: Record<string, unknown> = {};
  for (const n of API_FIELDS) {
    if (n === name) break;
    earlier[n] = defaultFor(n, fieldSpec(n), ctx, earlier);
  }
  return earlier;
}

export function hyperparameterSpecification(ctx: SpecContext): HyperparameterSpecification {
  return {
    fields: API_FIELDS.map((name) => describeForForm(name, { ...ctx, runner: 'job' })),
    rules: HYPERPARAMETER_RULES.map((r: HyperparameterRule) => ({
      fields: [...r.fields],
      description: r.description,
    })),
  };
}
