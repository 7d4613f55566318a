import { Column, Entity, PrimaryColumn } from 'typeorm';
import { ScoreColumns } from './evaluation-scores';

/** One scored answer of an evaluation job. */
@Entity({ name: 'evaluation_samples' })
export class EvaluationSampleEntity {
  @PrimaryColumn({ name: 'evaluation_id', type: 'uuid' })
  evaluationId: string;

  /** The dataset row (0-based index in the imported file). */
  @PrimaryColumn({ type: 'integer' })
  index: number;

  @Column({ type: 'text' })
  prompt: string;

  @Column({ type: 'text' })
  reference: string;

  @Column({ type: 'text' })
  prediction: string;

  @Column(() => ScoreColumns, { prefix: false })
  scores: ScoreColumns;
}
