/** Properties of the scores over generated token lists (fast-check). */
import fc from 'fast-check';
import { SampleScores, lcsLength, scoreTokens } from '../../../src/evaluation/metrics';
import { internPair, ngramMatches } from '../../../src/evaluation/metrics/ngrams';

// A small alphabet so that generated lists share n-grams of every order; a few longer words as well.
const token = fc.oneof(fc.constantFrom('a', 'b', 'c', 'd'), fc.string({ minLength: 1, maxLength: 3 }));
const tokens = fc.array(token, { maxLength: 40 });

const allScores = (s: SampleScores): number[] => [
  s.accuracy,
  s.f1,
  s.bleu4,
  ...[s.rouge1, s.rouge2, s.rougeL].flatMap((m) => [m.precision, m.recall, m.f]),
];

/** Textbook n-gram counting with joined-string keys, as an oracle for the dense-id counting. */
function naiveOverlap(p: string[], r: string[], n: number): number {
  const grams = (xs: string[]) => {
    const counts = new Map<string, number>();
    for (let i = 0; i + n <= xs.length; i++) {
      const key = JSON.stringify(xs.slice(i, i + n));
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const rc = grams(r);
  let overlap = 0;
  for (const [g, c] of grams(p)) overlap += Math.min(c, rc.get(g) ?? 0);
  return overlap;
}

/** Full-table LCS, as an oracle for the rolling-row one. */
function naiveLcs(a: number[], b: number[]): number {
  const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      t[i][j] = a[i - 1] === b[j - 1] ? t[i - 1][j - 1] + 1 : Math.max(t[i - 1][j], t[i][j - 1]);
  return t[a.length][b.length];
}

describe('score properties', () => {
  it('every score is in [0, 1]', () => {
    fc.assert(
      fc.property(tokens, tokens, (p, r) => {
        for (const v of allScores(scoreTokens(p, r))) {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('identical lists of four or more tokens score 1 everywhere', () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 4, maxLength: 40 }), (p) => {
        expect(allScores(scoreTokens(p, [...p]))).toEqual(new Array(12).fill(1));
      }),
      { numRuns: 300 },
    );
  });

  it('appending tokens to a prediction never lowers ROUGE recall', () => {
    fc.assert(
      fc.property(tokens, tokens, fc.array(token, { minLength: 1, maxLength: 10 }), (p, r, extra) => {
        const before = scoreTokens(p, r);
        const after = scoreTokens([...p, ...extra], r);
        expect(after.rouge1.recall).toBeGreaterThanOrEqual(before.rouge1.recall);
        expect(after.rouge2.recall).toBeGreaterThanOrEqual(before.rouge2.recall);
        expect(after.rougeL.recall).toBeGreaterThanOrEqual(before.rougeL.recall);
      }),
      { numRuns: 500 },
    );
  });

  const orders = [1, 2, 3, 4];

  it('n-gram overlaps of orders 1-4 equal textbook multiset counting', () => {
    fc.assert(
      fc.property(tokens, tokens, (p, r) => {
        expect(ngramMatches(internPair(p, r), 4)).toEqual(orders.map((n) => naiveOverlap(p, r, n)));
      }),
      { numRuns: 500 },
    );
  });

  it('overlaps stay right on lists long enough to grow the scratch buffers', () => {
    const long = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { minLength: 150, maxLength: 600 });
    fc.assert(
      fc.property(long, long, (p, r) => {
        expect(ngramMatches(internPair(p, r), 4)).toEqual(orders.map((n) => naiveOverlap(p, r, n)));
      }),
      { numRuns: 20 },
    );
  });

  it('the rolling-row LCS equals the full-table LCS', () => {
    const ints = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 50 });
    fc.assert(
      fc.property(ints, ints, (a, b) => {
        expect(lcsLength(a, b)).toBe(naiveLcs(a, b));
      }),
      { numRuns: 500 },
    );
  });
});
