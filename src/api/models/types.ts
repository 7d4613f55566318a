import { Extensions, Field, Float, ID, InputType, Int, ObjectType } from 'type-graphql';
import { MAX_PATH_CHARS } from '../datasets/types';
import type { InputLimits } from '../limits';

@ObjectType('BaseModel', { description: 'A Hugging Face model folder registered for training.' })
export class BaseModel {
  @Field(() => ID, { description: 'Model id.' })
  id: string;

  @Field({ description: 'Name, unique within the project.' })
  name: string;

  @Field({ description: 'Absolute folder path on the server (and on every worker).' })
  path: string;

  @Field({ description: "The model class from config.json's `architectures`, e.g. LlamaForCausalLM." })
  architecture: string;

  @Field({ description: 'Model family: llama, qwen2, baichuan or gpt2.' })
  modelType: string;

  @Field(() => Float, { description: 'Number of parameters (a Float because it can exceed 2^31).' })
  parameterCount: number;

  @Field(() => Int, { description: 'Longest sequence the model supports (max_position_embeddings).' })
  maxSequenceLength: number;

  @Field(() => Int, { description: 'Vocabulary size.' })
  vocabularySize: number;

  @Field({ description: 'When the model was registered.' })
  createdAt: Date;
}

@InputType({ description: 'A model folder to register.' })
export class RegisterModelInput {
  @Field({ description: 'Name, unique within the project, 1 to 200 characters.' })
  name: string;

  @Extensions({ maxLength: MAX_PATH_CHARS } satisfies InputLimits)
  @Field({
    description:
      'Absolute path of a Hugging Face folder (config.json, *.safetensors, tokenizer.json) inside the server’s import root.',
  })
  path: string;
}
