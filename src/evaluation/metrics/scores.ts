/** Score shapes of metrics.md: every value is a fraction in [0, 1]. */

export interface PRF {
  precision: number;
  recall: number;
  f: number;
}

export interface SampleScores {
  accuracy: number;
  f1: number;
  rouge1: PRF;
  rouge2: PRF;
  rougeL: PRF;
  bleu4: number;
}

/** The arithmetic mean of each per-sample score over `count` samples. */
export interface SetScores extends SampleScores {
  count: number;
}

/** Precision = overlap/|prediction side|, recall = overlap/|reference side|; all 0 where a side is empty. */
export function prf(overlap: number, predictionTotal: number, referenceTotal: number): PRF {
  if (predictionTotal === 0 || referenceTotal === 0) return { precision: 0, recall: 0, f: 0 };
  const precision = overlap / predictionTotal;
  const recall = overlap / referenceTotal;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f };
}
