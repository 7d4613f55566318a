import { FieldResolver, Resolver, Root } from 'type-graphql';
import { Checkpoint } from '../training-jobs/types';
import { archiveUrl } from './archive';

@Resolver(() => Checkpoint)
export class CheckpointResolver {
  @FieldResolver(() => String, {
    description:
      'Path of the checkpoint’s tar archive on this API (GET with the same `Authorization: Bearer` key): the PEFT adapter or Hugging Face folder with its trainer state.',
  })
  downloadUrl(@Root() checkpoint: Checkpoint): string {
    return archiveUrl(checkpoint.id);
  }
}
