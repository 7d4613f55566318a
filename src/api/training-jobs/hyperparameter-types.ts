/**
 * The GraphQL type of hyperparameters, generated from the table in hyperparameters.ts so a field's description
 * (with its range and default) cannot drift from the check the API applies. One class is both the input
 * (`TrainingHyperparametersInput`, every field optional) and the output (`TrainingHyperparameters`, every value the
 * job runs with; null where a field does not apply to the job's parameter scale).
 */
import { Field, Float, InputType, Int, ObjectType } from 'type-graphql';
import '../common/enums';
import {
  ApiHyperparameters,
  describeHyperparameter,
  ExecutionProvider,
  HyperparameterName,
  HYPERPARAMETERS,
  HyperparameterSpec,
  LrScheduler,
} from './hyperparameters';

// Declaration merging gives the class the table's fields as properties.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface TrainingHyperparameters extends ApiHyperparameters {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class TrainingHyperparameters {}

function graphqlType(spec: HyperparameterSpec) {
  switch (spec.kind) {
    case 'int':
      return () => Int;
    case 'float':
      return () => Float;
    case 'boolean':
      return () => Boolean;
    case 'text':
      return () => String;
    case 'targets':
      return () => [String];
    case 'scheduler':
      return () => LrScheduler;
    case 'provider':
      return () => ExecutionProvider;
  }
}

for (const name of Object.keys(HYPERPARAMETERS) as HyperparameterName[]) {
  Field(graphqlType(HYPERPARAMETERS[name]), { nullable: true, description: describeHyperparameter(name) })(
    TrainingHyperparameters.prototype,
    name,
  );
}
ObjectType('TrainingHyperparameters', {
  description: 'The hyperparameters a job runs with, defaults filled in; null where a field does not apply.',
})(TrainingHyperparameters);
InputType('TrainingHyperparametersInput', {
  description: 'Hyperparameters of a new job; every field is optional and has a documented default.',
})(TrainingHyperparameters);
