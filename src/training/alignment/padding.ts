/** Token rows of different lengths as one right-padded int64 (B, T) batch with its mask, T rounded up to a bucket. */

export interface PaddedRows {
  ids: { data: BigInt64Array; shape: [number, number] };
  mask: { data: BigInt64Array; shape: [number, number] };
  shape: [number, number];
}

/**
 * The padded width of rows whose longest is `longest` tokens: rounded up to a multiple of `bucket`, but not beyond
 * `limit` (e.g. the model's position range) unless the longest row itself is longer.
 */
export function paddedLength(longest: number, bucket = 1, limit = Infinity): number {
  return Math.max(longest, Math.min(Math.ceil(longest / bucket) * bucket, limit));
}

/** How scored rows (log-probabilities', and the steps' of RL) are padded. */
export interface PaddingOptions {
  /** Pad lengths up to a multiple of this. Default SCORED_BUCKET. */
  bucket?: number;
  /** The model's position range (padding never goes beyond it). */
  maxLength?: number;
  padTokenId?: number;
}

export const SCORED_BUCKET = 16;

/** The padded width T of scored rows whose longest is `longest` tokens (as log-probs.ts `scoredBatch` pads them). */
export function scoredLength(longest: number, o: PaddingOptions = {}): number {
  return paddedLength(longest, o.bucket ?? SCORED_BUCKET, o.maxLength);
}

/** Right-pad `rows` with `pad` to their `paddedLength`. */
export function padRows(
  rows: readonly (readonly number[])[],
  pad: number,
  bucket = 1,
  limit = Infinity,
): PaddedRows {
  if (rows.length === 0) throw new Error('padRows: no rows');
  const longest = Math.max(...rows.map((r) => r.length));
  const t = paddedLength(longest, bucket, limit);
  const shape: [number, number] = [rows.length, t];
  const ids = new BigInt64Array(rows.length * t).fill(BigInt(pad));
  const mask = new BigInt64Array(rows.length * t);
  rows.forEach((row, b) => {
    row.forEach((id, j) => {
      ids[b * t + j] = BigInt(id);
      mask[b * t + j] = 1n;
    });
  });
  return { ids: { data: ids, shape }, mask: { data: mask, shape }, shape };
}
