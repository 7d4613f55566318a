/**
 * The columns every kind of job has (training, evaluation, generation): the row a worker claims, runs through the
 * one state machine (src/db/job-status.ts) and settles; and the columns of the jobs that generate text with a
 * chosen model (evaluation, generation). Each job entity extends one of these; TypeORM maps the inherited columns
 * into the job's own table.
 */
import { Column, UpdateDateColumn } from 'typeorm';
import { EVALUATED_MODEL_KINDS, type ProviderName, wordsOf } from '../../vocabulary';
import { JobStatus } from './enums';
import { ProjectOwnedEntity } from './project-owned';

/** What generates: the base model, a full checkpoint, or the base model with an adapter. */
export const EvaluatedModelKind = wordsOf(EVALUATED_MODEL_KINDS);
export type EvaluatedModelKind = (typeof EVALUATED_MODEL_KINDS)[number];

export abstract class WorkerJobEntity extends ProjectOwnedEntity {
  @Column({ name: 'base_model_id', type: 'uuid' })
  baseModelId: string;

  @Column({ type: 'text' })
  status: JobStatus;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** How many times a worker has started (or taken over) this job. */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** Runs whose process died since a user last queued the job (see job_attempts); retries stop at a limit. */
  @Column({ type: 'integer', default: 0 })
  crashes: number;

  @Column({ name: 'worker_id', type: 'text', nullable: true })
  workerId: string | null;

  @Column({ name: 'cancel_requested_at', type: 'timestamptz', precision: 3, nullable: true })
  cancelRequestedAt: Date | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;
}

/** A job that generates text: the model resolved to folders once at creation, and the sampling settings. */
export abstract class GeneratingJobEntity extends WorkerJobEntity {
  @Column({ name: 'training_job_id', type: 'uuid', nullable: true })
  trainingJobId: string | null;

  /** The checkpoint that generates; always set when a training job is. */
  @Column({ name: 'checkpoint_id', type: 'uuid', nullable: true })
  checkpointId: string | null;

  @Column({ name: 'model_kind', type: 'text' })
  modelKind: EvaluatedModelKind;

  /** The folder loaded as the model: the base model's, or a full checkpoint's. */
  @Column({ name: 'model_path', type: 'text' })
  modelPath: string;

  /** The PEFT adapter folder applied on the model (LORA, PROMPT_TUNING). */
  @Column({ name: 'adapter_path', type: 'text', nullable: true })
  adapterPath: string | null;

  @Column({ name: 'max_new_tokens', type: 'integer' })
  maxNewTokens: number;

  @Column({ type: 'double precision' })
  temperature: number;

  @Column({ name: 'top_p', type: 'double precision' })
  topP: number;

  @Column({ type: 'integer' })
  seed: number;

  @Column({ name: 'execution_provider', type: 'text' })
  executionProvider: ProviderName;
}
