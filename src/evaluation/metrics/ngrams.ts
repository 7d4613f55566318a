/**
 * Multiset n-gram overlap of a prediction and a reference, shared by F1, ROUGE-N and BLEU.
 * Tokens become dense integer ids once per pair; each higher order numbers its n-grams densely from the
 * (n-1)-gram ids, so counting needs only typed arrays indexed by id (no string keys, no hash maps).
 */

/** Both token lists as dense ids in one array: prediction at [0, |p|), reference at [|p|, |p| + |r|). */
export interface InternedPair {
  ids: Int32Array;
  predictionLength: number;
  referenceLength: number;
  vocabularySize: number;
}

export function internPair(prediction: readonly string[], reference: readonly string[]): InternedPair {
  const ids = new Int32Array(prediction.length + reference.length);
  // A fresh Map per pair: measured faster than clearing a shared one (clear() shrinks it, then it regrows).
  const vocabulary = new Map<string, number>();
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

// Scratch space reused across calls (grown as needed): n-gram ids of the current order and the next, positions
// sorted by prefix, per-id counts, and per-token bookkeeping for grouping.
let gramIds = new Int32Array(256);
let nextIds = new Int32Array(256);
let order = new Int32Array(256);
let counts = new Int32Array(257);
let bucketOfToken = new Int32Array(256);
let groupOfToken = new Int32Array(256);

function reserve(total: number): void {
  if (gramIds.length >= total) return;
  const size = 2 * total;
  gramIds = new Int32Array(size);
  nextIds = new Int32Array(size);
  order = new Int32Array(size);
  counts = new Int32Array(size + 1);
  bucketOfToken = new Int32Array(size);
  groupOfToken = new Int32Array(size);
}

/**
 * matches[n - 1] = Σ over n-grams g of min(count_p(g), count_r(g)) for n = 1..maxN (the clipped count of BLEU,
 * the overlap of ROUGE-N, the common count of bag-of-tokens F1).
 */
export function ngramMatches(pair: InternedPair, maxN: number): number[] {
  const { ids, predictionLength: lp, referenceLength: lr, vocabularySize } = pair;
  reserve(lp + lr);
  gramIds.set(ids);
  const matches: number[] = [];
  let distinct = vocabularySize;
  for (let n = 1; n <= maxN; n++) {
    // No (n-1)-gram in common means no n-gram in common either.
    if (n > 1 && matches[n - 2] === 0) {
      matches.push(0);
      continue;
    }
    if (n > 1) distinct = extendOrder(ids, lp, lr, n, distinct, vocabularySize);
    matches.push(countMatches(lp, lr, n, distinct));
  }
  return matches;
}

/**
 * Turns the (n-1)-gram ids in gramIds (fewer than `prefixes` distinct) into dense n-gram ids: an n-gram is its
 * prefix's id plus its last token. Positions are counting-sorted by prefix; within one prefix, tokens seen
 * before reuse their group. Linear time, no hashing. Returns the number of distinct n-grams.
 */
function extendOrder(
  ids: Int32Array,
  lp: number,
  lr: number,
  n: number,
  prefixes: number,
  vocabulary: number,
): number {
  const pEnd = lp - n + 1; // n-grams start at [0, pEnd) in the prediction and [lp, rEnd) in the reference
  const rEnd = lp + lr - n + 1;
  counts.fill(0, 0, prefixes + 1);
  for (let i = 0; i < pEnd; i++) counts[gramIds[i] + 1]++;
  for (let i = lp; i < rEnd; i++) counts[gramIds[i] + 1]++;
  for (let a = 1; a <= prefixes; a++) counts[a] += counts[a - 1];
  for (let i = 0; i < pEnd; i++) order[counts[gramIds[i]]++] = i;
  for (let i = lp; i < rEnd; i++) order[counts[gramIds[i]]++] = i;

  bucketOfToken.fill(-1, 0, vocabulary);
  let distinct = 0;
  const m = Math.max(0, pEnd) + Math.max(0, rEnd - lp);
  for (let k = 0; k < m; k++) {
    const i = order[k];
    const prefix = gramIds[i];
    const last = ids[i + n - 1];
    if (bucketOfToken[last] !== prefix) {
      bucketOfToken[last] = prefix;
      groupOfToken[last] = distinct++;
    }
    nextIds[i] = groupOfToken[last];
  }
  [gramIds, nextIds] = [nextIds, gramIds];
  return distinct;
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
