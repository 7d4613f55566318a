/** `trainingMethods`: what the vocabulary says of each method that the TrainingMethod enum alone does not. */
import { Field, ObjectType } from 'type-graphql';
import { DatasetKind, ParameterScale, TrainingMethod } from '../../db/entities';
import { METHOD_NAMES, methodScales, methodWord } from '../../vocabulary';
import '../common/enums';

@ObjectType('TrainingMethodInfo', { description: 'A training method and what a job of it needs.' })
export class TrainingMethodInfo {
  @Field(() => TrainingMethod, { description: 'The method.' })
  method: TrainingMethod;

  @Field(() => DatasetKind, {
    description: 'The kind of dataset it trains on (createTrainingJob refuses others).',
  })
  datasetKind: DatasetKind;

  @Field(() => [ParameterScale], { description: 'The parameter scales it trains with, in the enum’s order.' })
  parameterScales: ParameterScale[];

  @Field(() => Boolean, {
    description:
      'Whether its checkpoints generate text: createGeneration and createEvaluationJob take only these (a reward model scores, it does not generate).',
  })
  generates: boolean;
}

export const trainingMethods = (): TrainingMethodInfo[] =>
  METHOD_NAMES.map((method) => ({
    method,
    datasetKind: methodWord(method).datasetKind,
    parameterScales: methodScales(method),
    generates: methodWord(method).generates,
  }));
