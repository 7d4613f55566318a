/**
 * BLEU-4 against nltk's sentence_bleu with method3 smoothing on every pair of
 * test/fixtures/metrics/bleu_nltk.json (made by make_bleu_fixture.py beside it, with Debian's python3-nltk).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scoreTokens } from '../../../src/evaluation/metrics';

interface Case {
  name: string;
  prediction: string[];
  reference: string[];
  bleu4: number;
}

const fixture = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '../../fixtures/metrics/bleu_nltk.json'), 'utf8'),
) as { nltk: string; cases: Case[] };

describe(`BLEU-4 equals nltk ${fixture.nltk} sentence_bleu(method3)`, () => {
  it('covers at least 200 pairs, with zeros, ones and values in between', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    const values = fixture.cases.map((c) => c.bleu4);
    expect(values.filter((v) => v === 0).length).toBeGreaterThan(5);
    expect(values.filter((v) => v === 1).length).toBeGreaterThan(2);
    expect(values.filter((v) => v > 0 && v < 1).length).toBeGreaterThan(150);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(Math.abs(scoreTokens(c.prediction, c.reference).bleu4 - c.bleu4)).toBeLessThanOrEqual(1e-9);
  });
});
