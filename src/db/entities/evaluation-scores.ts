/**
 * The six metrics as stored columns, one column per number (ROUGE as precision, recall and F), shared by the
 * aggregate columns of an evaluation job and the columns of each sample; and the metric names the API orders by.
 */
import { Column } from 'typeorm';
import { FlatScoreName, flattenScores } from '../../evaluation/flat-scores';
import type { SampleScores } from '../../evaluation/metrics';

/** Every stored number, as the API names it for ordering and comparison. */
export enum EvaluationMetric {
  ACCURACY = 'ACCURACY',
  F1 = 'F1',
  ROUGE1_PRECISION = 'ROUGE1_PRECISION',
  ROUGE1_RECALL = 'ROUGE1_RECALL',
  ROUGE1_F = 'ROUGE1_F',
  ROUGE2_PRECISION = 'ROUGE2_PRECISION',
  ROUGE2_RECALL = 'ROUGE2_RECALL',
  ROUGE2_F = 'ROUGE2_F',
  ROUGE_L_PRECISION = 'ROUGE_L_PRECISION',
  ROUGE_L_RECALL = 'ROUGE_L_RECALL',
  ROUGE_L_F = 'ROUGE_L_F',
  BLEU4 = 'BLEU4',
}

/** Each metric's column (the same in evaluation_jobs and evaluation_samples): its flat score name. */
const COLUMN: Record<EvaluationMetric, FlatScoreName> = {
  ACCURACY: 'accuracy',
  F1: 'f1',
  ROUGE1_PRECISION: 'rouge1_precision',
  ROUGE1_RECALL: 'rouge1_recall',
  ROUGE1_F: 'rouge1_f',
  ROUGE2_PRECISION: 'rouge2_precision',
  ROUGE2_RECALL: 'rouge2_recall',
  ROUGE2_F: 'rouge2_f',
  ROUGE_L_PRECISION: 'rouge_l_precision',
  ROUGE_L_RECALL: 'rouge_l_recall',
  ROUGE_L_F: 'rouge_l_f',
  BLEU4: 'bleu4',
};

export const METRICS = Object.keys(COLUMN) as EvaluationMetric[];

export const metricColumn = (m: EvaluationMetric): string => COLUMN[m];

export const metricValue = (s: SampleScores, m: EvaluationMetric): number => flattenScores(s)[COLUMN[m]];

const score = (name: string) => Column({ name, type: 'double precision', nullable: true });

/** Embedded score columns; null on a job until it has results. */
export class ScoreColumns {
  @score('accuracy') accuracy: number | null;
  @score('f1') f1: number | null;
  @score('rouge1_precision') rouge1Precision: number | null;
  @score('rouge1_recall') rouge1Recall: number | null;
  @score('rouge1_f') rouge1F: number | null;
  @score('rouge2_precision') rouge2Precision: number | null;
  @score('rouge2_recall') rouge2Recall: number | null;
  @score('rouge2_f') rouge2F: number | null;
  @score('rouge_l_precision') rougeLPrecision: number | null;
  @score('rouge_l_recall') rougeLRecall: number | null;
  @score('rouge_l_f') rougeLF: number | null;
  @score('bleu4') bleu4: number | null;
}

/** Stored columns back to scores; null when the row has none (a job without results). */
export function scoresOf(c: ScoreColumns): SampleScores | null {
  if (c.accuracy === null || c.accuracy === undefined) return null;
  const n = (v: number | null) => v as number;
  return {
    accuracy: n(c.accuracy),
    f1: n(c.f1),
    rouge1: { precision: n(c.rouge1Precision), recall: n(c.rouge1Recall), f: n(c.rouge1F) },
    rouge2: { precision: n(c.rouge2Precision), recall: n(c.rouge2Recall), f: n(c.rouge2F) },
    rougeL: { precision: n(c.rougeLPrecision), recall: n(c.rougeLRecall), f: n(c.rougeLF) },
    bleu4: n(c.bleu4),
  };
}
