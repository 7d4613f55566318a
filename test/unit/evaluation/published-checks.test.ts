/** The checks of docs/metrics.md section 4, value for value. */
import { brevityPenalty, lcsLength, scoreTokens } from '../../../src/evaluation/metrics';

const words = (s: string) => (s ? s.split(' ') : []);

describe('metrics.md section 4', () => {
  const reference = words('testing one two');

  it.each([
    ['testing', 'rouge1', 1, 1 / 3, 1 / 2],
    ['testing one', 'rouge2', 1, 1 / 2, 2 / 3],
    ['testing one', 'rougeL', 1, 2 / 3, 4 / 5],
    ['testing two', 'rougeL', 1, 2 / 3, 4 / 5],
  ] as const)('%s vs the reference: %s', (prediction, metric, precision, recall, f) => {
    const s = scoreTokens(words(prediction), reference)[metric];
    expect(s.precision).toBeCloseTo(precision, 12);
    expect(s.recall).toBeCloseTo(recall, 12);
    expect(s.f).toBeCloseTo(f, 12);
  });

  it('an empty prediction scores 0 on every ROUGE and on F1 and BLEU', () => {
    const s = scoreTokens([], reference);
    for (const m of [s.rouge1, s.rouge2, s.rougeL]) expect(m).toEqual({ precision: 0, recall: 0, f: 0 });
    expect(s.f1).toBe(0);
    expect(s.bleu4).toBe(0);
    expect(s.accuracy).toBe(0);
  });

  it('the LCS of [1,2,3,4,5] and [2,5,3,4] is 3', () => {
    expect(lcsLength([1, 2, 3, 4, 5], [2, 5, 3, 4])).toBe(3);
    expect(lcsLength([2, 5, 3, 4], [1, 2, 3, 4, 5])).toBe(3);
  });

  it("nltk's docstring example with method3 gives 0.41180376356915777", () => {
    const hypothesis1 = words(
      'It is a guide to action which ensures that the military always obeys the commands of the party',
    );
    const reference1 = words(
      'It is a guide to action that ensures that the military will forever heed Party commands',
    );
    expect(Math.abs(scoreTokens(hypothesis1, reference1).bleu4 - 0.41180376356915777)).toBeLessThan(1e-12);
  });

  it('the brevity penalty for reference length 28 and hypothesis length 12 is 0.2635971381157267', () => {
    expect(Math.abs(brevityPenalty(28, 12) - 0.2635971381157267)).toBeLessThan(1e-15);
    expect(brevityPenalty(12, 28)).toBe(1);
    expect(brevityPenalty(12, 12)).toBe(1);
    expect(brevityPenalty(12, 0)).toBe(0);
  });
});
