/**
 * The fields shared by every input that runs a model on a worker (evaluations, generations): which model (a base
 * model, or a checkpoint of one of its training jobs) and how it samples. The subclasses are the inputs the schema
 * uses; this base type is in the schema only if something refers to it.
 */
import { Field, Float, ID, InputType, Int } from 'type-graphql';
import { badInput } from '../errors';
import { ExecutionProvider } from '../training-jobs/hyperparameters';

@InputType('ModelRunInput', { description: 'Which model runs and how it samples.' })
export class ModelRunInput {
  @Field(() => ID, { description: 'A registered model of the project.' })
  baseModelId: string;

  @Field(() => ID, {
    nullable: true,
    description:
      'A training job of that model (SFT, DPO or RL); its latest checkpoint runs unless checkpointId names one.',
  })
  trainingJobId?: string | null;

  @Field(() => ID, {
    nullable: true,
    description:
      'A checkpoint of a training job of that model; full checkpoints replace the model, adapters go on it.',
  })
  checkpointId?: string | null;

  @Field(() => Int, {
    defaultValue: 64,
    description:
      'Most tokens generated per answer. Integer in [1, 4096]; with the longest prompt (and a prompt-tuning checkpoint’s virtual tokens) below the model’s positions, checked at creation. Default: 64.',
  })
  maxNewTokens: number;

  @Field(() => Float, {
    defaultValue: 0,
    description: 'Sampling temperature; 0 decodes greedily. Number in [0, 10]. Default: 0.',
  })
  temperature: number;

  @Field(() => Float, {
    defaultValue: 1,
    description: 'Nucleus sampling threshold (with temperature > 0). Number in (0, 1]. Default: 1.',
  })
  topP: number;

  @Field(() => Int, {
    defaultValue: 42,
    description: 'Seed of the sampling. Integer in [0, 2147483647]. Default: 42.',
  })
  seed: number;

  @Field(() => ExecutionProvider, {
    defaultValue: ExecutionProvider.CPU,
    description: 'Where the worker generates. Default: CPU.',
  })
  executionProvider: ExecutionProvider;
}

const at = (field: string) => ['input', field];

export function checkRange(field: string, value: number, min: number, max: number, integer: boolean): void {
  const ok = Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!ok)
    throw badInput(`${field} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, at(field));
}

/** The sampling settings as rows store them, checked against the model's context; BAD_USER_INPUT names the field. */
export function checkSampling(input: ModelRunInput, modelMaxSequenceLength: number) {
  checkRange('maxNewTokens', input.maxNewTokens, 1, Math.min(4096, modelMaxSequenceLength - 1), true);
  checkRange('temperature', input.temperature, 0, 10, false);
  if (!(input.topP > 0 && input.topP <= 1)) throw badInput('topP must be in (0, 1]', at('topP'));
  checkRange('seed', input.seed, 0, 2147483647, true);
  return {
    maxNewTokens: input.maxNewTokens,
    temperature: input.temperature,
    topP: input.topP,
    seed: input.seed,
    executionProvider: input.executionProvider,
  };
}
