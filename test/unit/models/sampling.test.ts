import { sampleToken } from '../../../src/models/sampling';
import { Rng } from '../../../src/util/rng';

/** Frequencies of 40,000 draws from `logits` at `temperature` and `topP`. */
function frequencies(logits: number[], temperature: number, topP: number): number[] {
  const rng = Rng.fromSeed(5);
  const counts = new Array<number>(logits.length).fill(0);
  const row = Float32Array.from(logits);
  const draws = 40000;
  for (let k = 0; k < draws; k++)
    counts[sampleToken(row, 0, row.length, { temperature, topP }, () => rng.next())]++;
  return counts.map((c) => c / draws);
}

function softmax(logits: number[], temperature: number): number[] {
  const e = logits.map((l) => Math.exp(l / temperature));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

describe('sampleToken', () => {
  const logits = [0.5, 2, -1, 1.2, 0, 1.9];

  it('without top-p draws from softmax(logits / temperature)', () => {
    for (const temperature of [1, 0.7]) {
      const expected = softmax(logits, temperature);
      frequencies(logits, temperature, 1).forEach((f, i) =>
        expect(Math.abs(f - expected[i])).toBeLessThan(0.01),
      );
    }
  });

  it('with top-p draws only from the smallest set of most likely tokens reaching it, renormalised', () => {
    const p = softmax(logits, 1);
    // Ranked: 2 (index 1), 1.9 (index 5), 1.2 (index 3), ...; the first two hold less than 0.7 of the mass.
    expect(p[1] + p[5]).toBeLessThan(0.7);
    expect(p[1] + p[5] + p[3]).toBeGreaterThan(0.7);
    const kept = p[1] + p[5] + p[3];
    const f = frequencies(logits, 1, 0.7);
    expect(f[0] + f[2] + f[4]).toBe(0);
    for (const i of [1, 5, 3]) expect(Math.abs(f[i] - p[i] / kept)).toBeLessThan(0.01);
  });
});
