import { Extensions, Field, Float, ID, InputType, Int, ObjectType } from 'type-graphql';
import type { InputLimits } from '../limits';
import { DatasetKind } from '../../db/entities';
import '../common/enums';

@ObjectType('Dataset', { description: 'An imported, validated dataset; its rows are stored with it.' })
export class Dataset {
  @Field(() => ID, { description: 'Dataset id.' })
  id: string;

  @Field({ description: 'Name, unique within the project.' })
  name: string;

  @Field(() => DatasetKind, { description: 'Row shape, which decides the training methods that can use it.' })
  kind: DatasetKind;

  @Field(() => Int, { description: 'Number of rows.' })
  rowCount: number;

  @Field(() => Int, { description: 'Rows used for training.' })
  trainRowCount: number;

  @Field(() => Int, { description: 'Rows held out for validation.' })
  validationRowCount: number;

  @Field(() => Float, { description: 'Fraction of rows held out for validation.' })
  validationSplitRatio: number;

  @Field(() => Int, { description: 'Seed of the validation split.' })
  splitSeed: number;

  @Field({ description: '`inline`, or the server-side file the rows were read from.' })
  source: string;

  @Field({ description: 'When the dataset was imported.' })
  createdAt: Date;
}

/** Longest inline JSONL (the request body must also hold it); larger datasets are uploaded. */
export const MAX_INLINE_JSONL_CHARS = 16_000_000;
/** Longest server-side path (Linux's PATH_MAX). */
export const MAX_PATH_CHARS = 4096;

@InputType({
  description: 'A dataset to import: inline JSONL or a server-side file, one JSON object per line.',
})
export class CreateDatasetInput {
  @Field({ description: 'Name, unique within the project, 1 to 200 characters.' })
  name: string;

  @Field(() => DatasetKind, { description: 'Row shape; every row is checked against it.' })
  kind: DatasetKind;

  @Extensions({ maxLength: MAX_INLINE_JSONL_CHARS } satisfies InputLimits)
  @Field(() => String, {
    nullable: true,
    description:
      'The rows as JSONL text, at most 16,000,000 characters (larger datasets: POST /datasets/upload). SFT: {"prompt","response"}, alpaca {"instruction","input","output"}, chat {"messages"}; PREFERENCE: {"prompt","chosen","rejected"}; PROMPT_ONLY: {"prompt"}. Give exactly one of jsonl and path.',
  })
  jsonl?: string | null;

  @Extensions({ maxLength: MAX_PATH_CHARS } satisfies InputLimits)
  @Field(() => String, {
    nullable: true,
    description:
      'Absolute path of a JSONL file inside the server’s import root (WHETSTONE_IMPORT_ROOT), for large datasets.',
  })
  path?: string | null;

  @Field(() => Float, {
    defaultValue: 0,
    description: 'Fraction of rows held out for validation. Number in [0, 0.5]. Default: 0.',
  })
  validationSplitRatio: number;

  @Field(() => Int, {
    defaultValue: 42,
    description: 'Seed choosing the validation rows. Integer in [0, 2147483647]. Default: 42.',
  })
  splitSeed: number;
}
