/**
 * The text pipeline of metrics.md section 1 on real sentences, stage by stage: jieba segmentation of the
 * normalised text, then punctuation/symbol removal, then stop words. Expected tokens are written out.
 */
import { normalize, segment, stopwordSet, tokenize } from '../../../src/evaluation/text';

const jieba = (text: string) => segment(normalize(text), 'jieba');

describe('Chinese pipeline (jieba, precise mode with HMM)', () => {
  const sentence = '今天纽约的天气真好啊，京华大酒店的张尧经理吃了一只北京烤鸭。';

  it('segments words, names and set phrases', () => {
    expect(jieba(sentence)).toEqual(
      ['今天', '纽约', '的', '天气', '真好', '啊', ','] // NFKC turned the full-width comma into ','
        .concat(['京华', '大酒店', '的', '张尧', '经理', '吃', '了', '一只', '北京烤鸭', '。']),
    );
  });

  it('drops punctuation tokens', () => {
    expect(tokenize(sentence, { stopwords: 'none' })).toEqual(
      ['今天', '纽约', '的', '天气', '真好', '啊'].concat([
        '京华',
        '大酒店',
        '的',
        '张尧',
        '经理',
        '吃',
        '了',
        '一只',
        '北京烤鸭',
      ]),
    );
  });

  it('drops the default Chinese stop words', () => {
    expect(tokenize(sentence)).toEqual([
      '今天',
      '纽约',
      '天气',
      '真好',
      '京华',
      '大酒店',
      '张尧',
      '经理',
      '吃',
      '一只',
      '北京烤鸭',
    ]);
  });

  it('keeps runs of Latin letters and digits whole, lower-cased, and normalises full-width forms', () => {
    const text = 'Ｂａｔｃｈ＿ｓｉｚｅ为32时，训练速度更快；数据批大小影响训练速度和模型的优化。';
    expect(jieba(text)).toEqual(
      ['batch', '_', 'size', '为', '32', '时', ',', '训练', '速度', '更', '快', ';'].concat([
        '数据',
        '批',
        '大小',
        '影响',
        '训练',
        '速度',
        '和',
        '模型',
        '的',
        '优化',
        '。',
      ]),
    );
    expect(tokenize(text)).toEqual(
      ['batch', 'size', '32', '训练', '速度', '快'].concat([
        '数据',
        '批',
        '大小',
        '影响',
        '训练',
        '速度',
        '模型',
        '优化',
      ]),
    );
  });

  it('removes parentheses and Latin punctuation around English terms', () => {
    const text = '学习率（Learning_Rate）过高会导致模型难以收敛！';
    expect(jieba(text)).toEqual([
      '学习',
      '率',
      '(',
      'learning',
      '_',
      'rate',
      ')',
      '过高会',
      '导致',
      '模型',
      '难以',
      '收敛',
      '!',
    ]);
    expect(tokenize(text)).toEqual([
      '学习',
      '率',
      'learning',
      'rate',
      '过高会',
      '导致',
      '模型',
      '难以',
      '收敛',
    ]);
  });

  it('drops symbol and white-space tokens (Unicode S* and White_Space) but keeps numbers', () => {
    const text = '价格：￥100＋＄5 ≥ ©2024';
    expect(jieba(text)).toEqual(['价格', ':', '¥', '100', '+', '$', '5', ' ', '≥', ' ', '©', '2024']);
    expect(tokenize(text, { stopwords: 'none' })).toEqual(['价格', '100', '5', '2024']);
  });
});

describe('other segmenters', () => {
  it('whitespace splits on Unicode white space only (tab, ideographic space), keeping attached punctuation', () => {
    expect(
      tokenize('今天 纽约的\t天气\u3000真好啊！', { segmenter: 'whitespace', stopwords: 'none' }),
    ).toEqual(['今天', '纽约的', '天气', '真好啊!']);
  });

  it('char makes every non-space character a token', () => {
    expect(tokenize('今天纽约的天气 真好啊！', { segmenter: 'char', stopwords: 'none' })).toEqual(
      Array.from('今天纽约的天气真好啊'),
    );
    expect(tokenize('今天纽约的天气 真好啊！', { segmenter: 'char' })).toEqual(
      Array.from('今天纽约天气真好'),
    );
  });

  it('an empty or blank text has no tokens', () => {
    for (const segmenter of ['jieba', 'whitespace', 'char'] as const) {
      expect(tokenize('', { segmenter })).toEqual([]);
      expect(tokenize(' \n\t。', { segmenter })).toEqual([]);
    }
  });
});

describe('stop words', () => {
  it('default is the Chinese and English lists of the stopword package', () => {
    const set = stopwordSet('default');
    for (const w of ['的', '了', '和', 'the', 'and', 'of']) expect(set.has(w)).toBe(true);
    expect(set.has('模型')).toBe(false);
    expect(tokenize('The model of 模型', { segmenter: 'whitespace' })).toEqual(['model', '模型']);
  });

  it('none keeps every token', () => {
    expect(tokenize('我们训练了模型，The Model', { stopwords: 'none' })).toEqual([
      '我们',
      '训练',
      '了',
      '模型',
      'the',
      'model',
    ]);
  });

  it('a user list replaces the default and is normalised like the text', () => {
    expect(tokenize('我们训练了模型，The Model', { stopwords: ['模型', 'THE'] })).toEqual([
      '我们',
      '训练',
      '了',
      'model',
    ]);
  });
});
