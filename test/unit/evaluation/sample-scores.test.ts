/** The per-sample and set definitions of metrics.md sections 2 and 3 beyond the published checks. */
import { aggregate, scoreSample, scoreTokens } from '../../../src/evaluation/metrics';

const words = (s: string) => (s ? s.split(' ') : []);

describe('accuracy', () => {
  it('is 1 only for identical sequences, including two empty ones', () => {
    expect(scoreTokens(words('a b c'), words('a b c')).accuracy).toBe(1);
    expect(scoreTokens([], []).accuracy).toBe(1);
    expect(scoreTokens(words('a b c'), words('a c b')).accuracy).toBe(0);
    expect(scoreTokens(words('a b'), words('a b c')).accuracy).toBe(0);
  });
});

describe('bag-of-tokens F1', () => {
  it('uses the multiset intersection: 2PR/(P+R)', () => {
    // common = min(2,1) for x + min(1,1) for y = 2; P = 2/4, R = 2/3
    const p = 2 / 4;
    const r = 2 / 3;
    expect(scoreTokens(words('x x y z'), words('x y w')).f1).toBeCloseTo((2 * p * r) / (p + r), 15);
  });

  it('is 1 for two empty sequences and 0 when one is empty or nothing is shared', () => {
    expect(scoreTokens([], []).f1).toBe(1);
    expect(scoreTokens([], words('a')).f1).toBe(0);
    expect(scoreTokens(words('a'), []).f1).toBe(0);
    expect(scoreTokens(words('a b'), words('c d')).f1).toBe(0);
  });
});

describe('ROUGE-N counts n-grams as multisets, not sets', () => {
  it('clips repeated unigrams and bigrams to the other side', () => {
    const s = scoreTokens(words('a a a a'), words('a a b'));
    // unigrams: overlap min(4,2) = 2 of 4 predicted and 3 reference
    expect(s.rouge1.precision).toBeCloseTo(2 / 4, 15);
    expect(s.rouge1.recall).toBeCloseTo(2 / 3, 15);
    // bigrams: p has (a a) x3, r has (a a), (a b): overlap 1 of 3 and 2
    expect(s.rouge2.precision).toBeCloseTo(1 / 3, 15);
    expect(s.rouge2.recall).toBeCloseTo(1 / 2, 15);
  });

  it('gives 0 for all three when a side has no bigram', () => {
    expect(scoreTokens(words('a'), words('a b')).rouge2).toEqual({ precision: 0, recall: 0, f: 0 });
    expect(scoreTokens(words('a b'), words('a')).rouge2).toEqual({ precision: 0, recall: 0, f: 0 });
  });

  it('does not join n-grams across the prediction/reference boundary', () => {
    // p + r concatenated would contain the bigram (b c); neither side does.
    expect(scoreTokens(words('a b'), words('c d')).rouge2.recall).toBe(0);
  });
});

describe('ROUGE-L', () => {
  it('uses the longest common subsequence, not a contiguous run', () => {
    const s = scoreTokens(words('a x b y c'), words('a b c d'));
    expect(s.rougeL.recall).toBeCloseTo(3 / 4, 15);
    expect(s.rougeL.precision).toBeCloseTo(3 / 5, 15);
  });

  it('is 0 where a side is empty', () => {
    expect(scoreTokens(words('a'), []).rougeL).toEqual({ precision: 0, recall: 0, f: 0 });
  });
});

describe('scoreSample', () => {
  it('tokenizes both sides with the same options before scoring', () => {
    const whitespace = { segmenter: 'whitespace', stopwords: 'none' } as const;
    // NFKC + lower case on both sides; the lone ',' and '!' are punctuation-only tokens and are dropped.
    expect(scoreSample('The  ＣＡＴ sat , !', 'the cat sat', whitespace).accuracy).toBe(1);
    // The whitespace segmenter splits on white space only, so punctuation attached to a word stays.
    expect(scoreSample('the cat, sat', 'the cat sat', whitespace).accuracy).toBe(0);
    expect(
      scoreSample('the cat, sat', 'the cat sat', { segmenter: 'char', stopwords: 'none' }).accuracy,
    ).toBe(1);
  });

  it('scores Chinese text through jieba by default', () => {
    const s = scoreSample('大模型训练是本平台的核心功能。', '模型训练是平台的核心功能');
    // prediction [大 模型 训练 本 平台 核心 功能], reference [模型 训练 平台 核心 功能]
    expect(s.rouge1.recall).toBe(1);
    expect(s.rouge1.precision).toBeCloseTo(5 / 7, 15);
    expect(s.rouge2.recall).toBeCloseTo(3 / 4, 15);
  });
});

describe('aggregate', () => {
  it('is the arithmetic mean of every score', () => {
    const a = scoreTokens(words('a b c d'), words('a b c d'));
    const b = scoreTokens(words('x'), words('a b c d'));
    const set = aggregate([a, b]);
    expect(set.count).toBe(2);
    expect(set.accuracy).toBe(0.5);
    expect(set.bleu4).toBe(0.5);
    expect(set.rougeL).toEqual({ precision: 0.5, recall: 0.5, f: 0.5 });
    const c = scoreTokens(words('a b'), words('a b c d'));
    expect(aggregate([a, b, c]).rouge1.recall).toBeCloseTo((1 + 0 + 0.5) / 3, 15);
    expect(aggregate([a, b, c]).f1).toBeCloseTo((1 + 0 + c.f1) / 3, 15);
  });

  it('refuses an empty set, whose mean is undefined', () => {
    expect(() => aggregate([])).toThrow(/no samples/);
  });
});
