/**
 * The validation split of a dataset: a seeded, order-independent choice of rows. Each row gets a pseudo-random rank
 * from (seed, index); the lowest-ranked `count` rows are held out. The same seed always holds out the same rows.
 */
import { createHash } from 'node:crypto';

/** How many of `rowCount` rows the ratio holds out; at least one row always stays for training. */
export function validationCount(rowCount: number, ratio: number): number {
  return Math.min(rowCount - 1, Math.round(rowCount * ratio));
}

/** `isValidation[i]` for every row index. */
export function chooseValidationRows(rowCount: number, ratio: number, seed: number): boolean[] {
  const count = validationCount(rowCount, ratio);
  const rank = (i: number) => createHash('sha256').update(`${seed}:${i}`).digest().readUInt32BE(0);
  const order = Array.from({ length: rowCount }, (_, i) => ({ i, r: rank(i) })).sort(
    (a, b) => a.r - b.r || a.i - b.i,
  );
  const held = new Array<boolean>(rowCount).fill(false);
  for (let k = 0; k < count; k++) held[order[k].i] = true;
  return held;
}
