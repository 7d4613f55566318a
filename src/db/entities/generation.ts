import { Column, Entity } from 'typeorm';
import { GeneratingJobEntity } from './job';

/** Why a finished generation stopped. */
export enum GenerationFinishReason {
  END_OF_SEQUENCE = 'END_OF_SEQUENCE',
  MAX_NEW_TOKENS = 'MAX_NEW_TOKENS',
  CANCELLED = 'CANCELLED',
}

/**
 * A generation (the playground's answer to one prompt): which model, the prompt and sampling settings, its status
 * and, once finished, the whole text.
 */
@Entity({ name: 'generations' })
export class GenerationEntity extends GeneratingJobEntity {
  @Column({ type: 'text' })
  prompt: string;

  /** The prompt is a user message rendered with the model's chat template. */
  @Column({ name: 'chat_template', type: 'boolean' })
  chatTemplate: boolean;

  /** The generated text; null until finished (it streams meanwhile). */
  @Column({ type: 'text', nullable: true })
  text: string | null;

  /** The tokens handed out so far, stored piece by piece: a later run continues after them. */
  @Column({ name: 'generated_ids', type: 'integer', array: true, default: () => "'{}'" })
  generatedIds: number[];

  @Column({ name: 'prompt_tokens', type: 'integer', nullable: true })
  promptTokens: number | null;

  @Column({ name: 'generated_tokens', type: 'integer', nullable: true })
  generatedTokens: number | null;

  @Column({ name: 'finish_reason', type: 'text', nullable: true })
  finishReason: GenerationFinishReason | null;
}
