import { Extensions, Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { EvaluatedModelKind, GenerationFinishReason, JobStatus } from '../../db/entities';
import { registerJobStatus } from '../common/enums';
import { ModelRunInput } from '../common/model-run-input';
import type { InputLimits } from '../limits';
import '../evaluations/types';

export const MAX_PROMPT_CHARACTERS = 100_000;

export enum GenerationEventKind {
  DELTA = 'DELTA',
  FINAL = 'FINAL',
}

/** JobStatus under the schema's name for generations (one status machine for every kind of job). */
const GenerationStatus = { ...JobStatus };

registerJobStatus(GenerationStatus, 'GenerationStatus', 'Where a generation stands.', {
  RUNNING: 'A worker is generating.',
  SUCCEEDED: 'Ended by an end-of-sequence token or maxNewTokens.',
  CANCELLED: 'Cancelled; a running one keeps the text generated so far.',
});

registerEnumType(GenerationFinishReason, {
  name: 'GenerationFinishReason',
  description: 'Why a finished generation stopped.',
  valuesConfig: {
    END_OF_SEQUENCE: { description: 'The model produced an end-of-sequence token.' },
    MAX_NEW_TOKENS: { description: 'It reached maxNewTokens.' },
    CANCELLED: { description: 'It was cancelled.' },
  },
});

registerEnumType(GenerationEventKind, {
  name: 'GenerationEventKind',
  description: 'What a generation stream event carries.',
  valuesConfig: {
    DELTA: { description: 'The next piece of text, as decoded.' },
    FINAL: {
      description: 'The generation ended: the whole text and why it stopped (always the last event).',
    },
  },
});

@InputType({ description: 'A prompt for a model or checkpoint to answer on a worker.' })
export class CreateGenerationInput extends ModelRunInput {
  @Field({ description: `The prompt, 1 to ${MAX_PROMPT_CHARACTERS} characters.` })
  @Extensions({ maxLength: MAX_PROMPT_CHARACTERS } satisfies InputLimits)
  prompt: string;

  @Field({
    defaultValue: false,
    description:
      'Send the prompt as a user message through the model’s chat template (up to the assistant’s turn), as chat rows are trained; otherwise as plain text. Default: false.',
  })
  chatTemplate: boolean;
}

@ObjectType('Generation', { description: 'One prompt answered by a model on a worker (the playground).' })
export class Generation {
  @Field(() => ID, { description: 'Generation id.' })
  id: string;

  @Field(() => GenerationStatus, { description: 'Current status.' })
  status: JobStatus;

  @Field(() => EvaluatedModelKind, { description: 'What runs: the base model, or a checkpoint of it.' })
  modelKind: EvaluatedModelKind;

  @Field({ description: 'The prompt as given.' })
  prompt: string;

  @Field({ description: 'Whether the prompt went through the chat template.' })
  chatTemplate: boolean;

  @Field(() => Int, { description: 'Most tokens to generate.' })
  maxNewTokens: number;

  @Field(() => Float, { description: 'Sampling temperature; 0: greedy.' })
  temperature: number;

  @Field(() => Float, { description: 'Nucleus sampling threshold.' })
  topP: number;

  @Field(() => Int, { description: 'Seed of the sampling.' })
  seed: number;

  @Field(() => String, {
    nullable: true,
    description: 'The whole generated text; null until it ends (subscribe to generationStream meanwhile).',
  })
  text: string | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Tokens of the encoded prompt; null before a worker encoded it.',
  })
  promptTokens: number | null;

  @Field(() => Int, { nullable: true, description: 'Tokens generated; null until it ends.' })
  generatedTokens: number | null;

  @Field(() => GenerationFinishReason, {
    nullable: true,
    description: 'Why it stopped; null unless SUCCEEDED or CANCELLED.',
  })
  finishReason: GenerationFinishReason | null;

  @Field(() => String, { nullable: true, description: 'Why it failed; null unless FAILED.' })
  error: string | null;

  @Field({ description: 'When it was created.' })
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: 'When a worker started it.' })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When it ended.' })
  finishedAt: Date | null;

  baseModelId: string;
  trainingJobId: string | null;
  checkpointId: string | null;
}

@ObjectType('GenerationEvent', {
  description: 'One event of a generation stream: a piece of text, or the end.',
})
export class GenerationEvent {
  @Field(() => GenerationEventKind, { description: 'DELTA or FINAL.' })
  kind: GenerationEventKind;

  @Field(() => ID, { description: 'The generation.' })
  generationId: string;

  @Field(() => GenerationStatus, {
    description: 'The status: RUNNING for pieces; the final status at the end.',
  })
  status: JobStatus;

  @Field(() => Int, {
    nullable: true,
    description: 'DELTA: the position of the piece (0-based; the pieces in order are the text). FINAL: null.',
  })
  index: number | null;

  @Field({ description: 'DELTA: the piece of text. FINAL: the whole text ("" when it failed before any).' })
  text: string;

  @Field(() => Int, { description: 'Tokens generated so far (FINAL: in all).' })
  generatedTokens: number;

  @Field(() => GenerationFinishReason, {
    nullable: true,
    description: 'FINAL: why it stopped (null when FAILED).',
  })
  finishReason: GenerationFinishReason | null;

  @Field(() => String, { nullable: true, description: 'FINAL: why it failed.' })
  error: string | null;
}
