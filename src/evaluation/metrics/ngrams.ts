/**
 * Multiset n-gram overlap of a prediction and a reference, shared by F1, ROUGE-N and BLEU.
 * Tokens become dense integer ids once per pair; each higher order re-densifies (prefix id, last token)
 * pairs, so keys stay below (|p| + |r|) * vocabulary and never lose precision as doubles.
 */

/** Both token lists as dense ids in one array: prediction at [0, |p|), reference at [|p|, |p| + |r|). */
export interface InternedPair {
  ids: Int32Array;
  predictionLength: number;
  referenceLength: number;
  vocabularySize: number;
}

const vocabulary = new Map<string, number>();

export function internPair(prediction: readonly string[], reference: readonly string[]): InternedPair {
  const ids = new Int32Array(prediction.length + reference.length);
  vocabulary.clear();
  let k = 0;
  for (const list of [prediction, reference]) {
    for (const token of list) {
      let id = vocabulary.get(token);
      if (id === undefined) {
        id = vocabulary.size;
        vocabulary.set(token, id);
      }
      ids[k++] = id;
    }
  }
  return {
    ids,
    predictionLength: prediction.length,
    referenceLength: reference.length,
    vocabularySize: vocabulary.size,
  };
}

// Scratch space reused across calls: n-gram ids of the current order, and per-id counts.
let gramIds = new Int32Array(256);
let counts = new Int32Array(256);
const denseKeys = new Map<number, number>();

/**
 * matches[n - 1] = Σ over n-grams g of min(count_p(g), count_r(g)) for n = 1..maxN (the clipped count of BLEU,
 * the overlap of ROUGE-N, the common count of bag-of-tokens F1).
 */
export function ngramMatches(pair: InternedPair, maxN: number): number[] {
  const { ids, predictionLength: lp, referenceLength: lr, vocabularySize } = pair;
  const total = lp + lr;
  if (gramIds.length < total) {
    gramIds = new Int32Array(total * 2);
    counts = new Int32Array(total * 2);
  }
  gramIds.set(ids);
  const matches: number[] = [];
  for (let n = 1; n <= maxN; n++) {
    // No (n-1)-gram in common means no n-gram in common either.
    if (n > 1 && matches[n - 2] === 0) {
      matches.push(0);
      continue;
    }
    let distinct = vocabularySize;
    if (n > 1) {
      denseKeys.clear();
      extendOrder(ids, 0, lp, n, vocabularySize);
      extendOrder(ids, lp, total, n, vocabularySize);
      distinct = denseKeys.size;
    }
    matches.push(countMatches(lp, lr, n, distinct));
  }
  return matches;
}

/** Turns the (n-1)-gram ids of tokens [start, end) into dense n-gram ids (numbered in denseKeys), in place. */
function extendOrder(ids: Int32Array, start: number, end: number, n: number, vocabularySize: number): void {
  for (let i = start; i + n <= end; i++) {
    const key = gramIds[i] * vocabularySize + ids[i + n - 1];
    let id = denseKeys.get(key);
    if (id === undefined) {
      id = denseKeys.size;
      denseKeys.set(key, id);
    }
    gramIds[i] = id;
  }
}

function countMatches(lp: number, lr: number, n: number, distinct: number): number {
  counts.fill(0, 0, distinct);
  for (let j = lp; j + n <= lp + lr; j++) counts[gramIds[j]]++;
  let m = 0;
  for (let i = 0; i + n <= lp; i++) {
    const id = gramIds[i];
    if (counts[id] > 0) {
      counts[id]--;
      m++;
    }
  }
  return m;
}

/** Number of n-grams in a list of `length` tokens. */
export const ngramCount = (length: number, n: number): number => Math.max(0, length - n + 1);
