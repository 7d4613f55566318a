import { Column, Entity } from 'typeorm';
import { DatasetSplit } from './enums';
import { ScoreColumns } from './evaluation-scores';
import { GeneratingJobEntity } from './job';
import { SEGMENTER_NAMES, type SegmenterName, wordsOf } from '../../vocabulary';

export const MetricSegmenter = wordsOf(SEGMENTER_NAMES);
export type MetricSegmenter = SegmenterName;

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
export class EvaluationJobEntity extends GeneratingJobEntity {
  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'dataset_id', type: 'uuid' })
  datasetId: string;

  /** The dataset rows evaluated: one split, or every row (null). */
  @Column({ name: 'dataset_split', type: 'text', nullable: true })
  datasetSplit: DatasetSplit | null;

  @Column({ name: 'batch_size', type: 'integer' })
  batchSize: number;

  @Column({ type: 'text' })
  segmenter: MetricSegmenter;

  @Column({ type: 'text' })
  stopwords: MetricStopwords;

  @Column({ name: 'custom_stopwords', type: 'text', array: true, nullable: true })
  customStopwords: string[] | null;

  /** Samples scored and stored so far. */
  @Column({ name: 'samples_done', type: 'integer', default: 0 })
  samplesDone: number;

  /** Samples the run scores (rows minus skipped ones); null before a worker has looked at the rows. */
  @Column({ name: 'samples_total', type: 'integer', nullable: true })
  samplesTotal: number | null;

  /** Rows left out because their prompt leaves no room for maxNewTokens. */
  @Column({ name: 'skipped_rows', type: 'integer', default: 0 })
  skippedRows: number;

  /** Means over the samples; null until SUCCEEDED. */
  @Column(() => ScoreColumns, { prefix: false })
  scores: ScoreColumns;
}
