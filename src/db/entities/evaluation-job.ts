import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { EVALUATED_MODEL_KINDS, wordsOf } from '../../vocabulary';
import { DatasetSplit, JobStatus } from './enums';
import { ScoreColumns } from './evaluation-scores';

/** What was evaluated: the base model, a full checkpoint, or the base model with an adapter. */
export const EvaluatedModelKind = wordsOf(EVALUATED_MODEL_KINDS);
export type EvaluatedModelKind = (typeof EVALUATED_MODEL_KINDS)[number];

export enum MetricSegmenter {
  JIEBA = 'JIEBA',
  WHITESPACE = 'WHITESPACE',
  CHAR = 'CHAR',
}

export enum MetricStopwords {
  DEFAULT = 'DEFAULT',
  NONE = 'NONE',
  CUSTOM = 'CUSTOM',
}

/**
 * An evaluation job: which model on which rows with which generation and scoring settings, its progress, and
 * (once SUCCEEDED) the mean of every score; the per-sample scores are in `evaluation_samples`.
 */
@Entity({ name: 'evaluation_jobs' })
export class EvaluationJobEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'base_model_id', type: 'uuid' })
  baseModelId: string;

  @Column({ name: 'training_job_id', type: 'uuid', nullable: true })
  trainingJobId: string | null;

  /** The checkpoint evaluated; always set when a training job is. */
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

  @Column({ name: 'dataset_id', type: 'uuid' })
  datasetId: string;

  /** The dataset rows evaluated: one split, or every row (null). */
  @Column({ name: 'dataset_split', type: 'text', nullable: true })
  datasetSplit: DatasetSplit | null;

  @Column({ name: 'max_new_tokens', type: 'integer' })
  maxNewTokens: number;

  @Column({ type: 'double precision' })
  temperature: number;

  @Column({ name: 'top_p', type: 'double precision' })
  topP: number;

  @Column({ type: 'integer' })
  seed: number;

  @Column({ name: 'batch_size', type: 'integer' })
  batchSize: number;

  @Column({ type: 'text' })
  segmenter: MetricSegmenter;

  @Column({ type: 'text' })
  stopwords: MetricStopwords;

  @Column({ name: 'custom_stopwords', type: 'text', array: true, nullable: true })
  customStopwords: string[] | null;

  @Column({ name: 'execution_provider', type: 'text' })
  executionProvider: string;

  @Column({ type: 'text' })
  status: JobStatus;

  /** Samples scored and stored so far. */
  @Column({ name: 'samples_done', type: 'integer', default: 0 })
  samplesDone: number;

  /** Samples the run scores (rows minus skipped ones); null before a worker has looked at the rows. */
  @Column({ name: 'samples_total', type: 'integer', nullable: true })
  samplesTotal: number | null;

  /** Rows left out because their prompt leaves no room for maxNewTokens. */
  @Column({ name: 'skipped_rows', type: 'integer', default: 0 })
  skippedRows: number;

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

  /** Means over the samples; null until SUCCEEDED. */
  @Column(() => ScoreColumns, { prefix: false })
  scores: ScoreColumns;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;
}
