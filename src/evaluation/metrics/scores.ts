/** The PRF score shape of metrics.md: every value is a fraction in [0, 1]. */

export interface PRF {
  precision: number;
  recall: number;
  f: number;
}

/** Precision = overlap/|prediction side|, recall = overlap/|reference side|; all 0 where a side is empty. */
export function prf(overlap: number, predictionTotal: number, referenceTotal: number): PRF {
  if (predictionTotal === 0 || referenceTotal === 0) return { precision: 0, recall: 0, f: 0 };
  const precision = overlap / predictionTotal;
  const recall = overlap / referenceTotal;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f };
}
