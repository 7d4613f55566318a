/**
 * A seeded train/validation split of a dataset's rows: the same seed holds out the same rows; both parts keep
 * the rows' original order.
 */
import { Rng } from '../util/rng';

export interface Split {
  train: number[];
  validation: number[];
}

/** How many of `rowCount` rows a ratio holds out: round(ratio * n), leaving at least one row for training. */
export function heldOutCount(rowCount: number, ratio: number): number {
  return Math.min(Math.max(rowCount - 1, 0), Math.round(rowCount * ratio));
}

/**
 * Hold out heldOutCount(n, ratio) rows (at least one row stays for training) chosen by a seeded shuffle; returns row
 * indices of each part in ascending order.
 */
export function splitTrainValidation(rowCount: number, ratio: number, seed: number): Split {
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`validation ratio must be in [0, 1), got ${ratio}`);
  const held = heldOutCount(rowCount, ratio);
  const isValidation = new Array<boolean>(rowCount).fill(false);
  for (const i of Rng.fromSeed(seed).permutation(rowCount).slice(0, held)) isValidation[i] = true;
  const indices = [...Array(rowCount).keys()];
  return {
    train: indices.filter((i) => !isValidation[i]),
    validation: indices.filter((i) => isValidation[i]),
  };
}
