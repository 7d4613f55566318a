import { Rng } from '../../../../src/util/rng';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference implementation from state {1, 2, 3, 4}', () => {
    // The test vector of xoshiro128starstar.c (v1.1), as used by Rust's rand_xoshiro.
    const rng = Rng.fromState({ algorithm: 'xoshiro128**', words: [1, 2, 3, 4] });
    const out = Array.from({ length: 10 }, () => rng.nextUint32());
    expect(out).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('continues exactly from a saved state, through JSON', () => {
    const straight = Rng.fromSeed(42);
    straight.permutation(10);
    const saved = JSON.parse(JSON.stringify(straight.state()));
    const expected = [straight.permutation(50), straight.next(), straight.int(7)];
    const resumed = Rng.fromState(saved);
    expect([resumed.permutation(50), resumed.next(), resumed.int(7)]).toEqual(expected);
  });

  it('gives different streams for different seeds and the same for the same seed', () => {
    const a = Rng.fromSeed(0);
    const b = Rng.fromSeed(0);
    const c = Rng.fromSeed(1);
    const seq = (r: Rng) => Array.from({ length: 8 }, () => r.nextUint32());
    expect(seq(a)).toEqual(seq(b));
    expect(seq(Rng.fromSeed(0))).not.toEqual(seq(c));
  });

  it('draws permutations uniformly and floats in [0, 1)', () => {
    const rng = Rng.fromSeed(123);
    const counts = new Map<string, number>();
    for (let i = 0; i < 24000; i++) {
      const key = rng.permutation(4).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    // Each of the 24 orders expects 1000 (sd about 31); 5 sd bounds.
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(160);
    const floats = Array.from({ length: 10000 }, () => rng.next());
    expect(Math.min(...floats)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...floats)).toBeLessThan(1);
    expect(Math.abs(floats.reduce((a, b) => a + b) / floats.length - 0.5)).toBeLessThan(0.015);
  });

  it('rejects bad seeds and states', () => {
    expect(() => Rng.fromSeed(-1)).toThrow(/seed must be an integer/);
    expect(() => Rng.fromSeed(1.5)).toThrow(/seed must be an integer/);
    expect(() => Rng.fromState({ algorithm: 'xoshiro128**', words: [0, 0, 0, 0] })).toThrow(/all zero/);
    expect(() => Rng.fromState({ algorithm: 'pcg' } as never)).toThrow(/not a saved xoshiro128\*\* state/);
  });
});
