import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { JobStatus } from './enums';
import { EvaluatedModelKind } from './evaluation-job';

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
export class GenerationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId: string;

  @Column({ name: 'base_model_id', type: 'uuid' })
  baseModelId: string;

  @Column({ name: 'training_job_id', type: 'uuid', nullable: true })
  trainingJobId: string | null;

  @Column({ name: 'checkpoint_id', type: 'uuid', nullable: true })
  checkpointId: string | null;

  @Column({ name: 'model_kind', type: 'text' })
  modelKind: EvaluatedModelKind;

  @Column({ name: 'model_path', type: 'text' })
  modelPath: string;

  @Column({ name: 'adapter_path', type: 'text', nullable: true })
  adapterPath: string | null;

  @Column({ type: 'text' })
  prompt: string;

  /** The prompt is a user message rendered with the model's chat template. */
  @Column({ name: 'chat_template', type: 'boolean' })
  chatTemplate: boolean;

  @Column({ name: 'max_new_tokens', type: 'integer' })
  maxNewTokens: number;

  @Column({ type: 'double precision' })
  temperature: number;

  @Column({ name: 'top_p', type: 'double precision' })
  topP: number;

  @Column({ type: 'integer' })
  seed: number;

  @Column({ name: 'execution_provider', type: 'text' })
  executionProvider: string;

  @Column({ type: 'text' })
  status: JobStatus;

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

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** Runs whose process died since a user last queued the job (see job_attempts); retries stop at a limit. */
  @Column({ type: 'integer', default: 0 })
  crashes: number;

  @Column({ name: 'worker_id', type: 'text', nullable: true })
  workerId: string | null;

  @Column({ name: 'cancel_requested_at', type: 'timestamptz', precision: 3, nullable: true })
  cancelRequestedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;
}
