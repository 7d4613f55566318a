/** What the layers derive from the metric registry: flat names, the API's metric names and their values. */
import {
  EVALUATION_METRICS,
  EvaluationMetric,
  FLAT_SCORE_NAMES,
  METRIC_DEFINITIONS,
  aggregate,
  flattenScores,
  metricColumn,
  isHeadlineMetric,
  isSummaryMetric,
  metricDescription,
  metricLabel,
  metricValue,
  scoreSample,
  unflattenScores,
} from '../../../src/evaluation/metrics';

const samples = [
  scoreSample('the cat sat on the mat', 'a cat sat on a mat', { segmenter: 'whitespace', stopwords: [] }),
  scoreSample('testing one', 'testing one two', { segmenter: 'whitespace', stopwords: [] }),
];

test('a number metric stores one column, a PRF metric three, in registry order', () => {
  expect(FLAT_SCORE_NAMES).toEqual(
    METRIC_DEFINITIONS.flatMap((m) =>
      m.kind === 'prf' ? [`${m.column}_precision`, `${m.column}_recall`, `${m.column}_f`] : [m.column],
    ),
  );
});

test('each EvaluationMetric is its column upper-cased and reads that column', () => {
  expect(EVALUATION_METRICS).toEqual(FLAT_SCORE_NAMES.map((c) => c.toUpperCase()));
  expect(EvaluationMetric.ROUGE_L_RECALL).toBe('ROUGE_L_RECALL');
  const flat = flattenScores(samples[1]);
  for (const m of EVALUATION_METRICS) expect(metricValue(samples[1], m)).toBe(flat[metricColumn(m)]);
  expect(metricValue(samples[1], EvaluationMetric.ROUGE1_RECALL)).toBe(samples[1].rouge1.recall);
  expect(metricValue(samples[1], EvaluationMetric.ROUGE_L_F)).toBe(samples[1].rougeL.f);
});

test('a PRF part is described by its metric, the headline part says so', () => {
  expect(metricDescription(EvaluationMetric.ROUGE2_F)).toBe('ROUGE-2 F.');
  expect(metricDescription(EvaluationMetric.ROUGE_L_RECALL)).toBe('ROUGE-L recall (the headline metric).');
  expect(metricDescription(EvaluationMetric.BLEU4)).toBe('BLEU-4 with method-3 smoothing.');
});

test('a number is labelled once: a PRF part by its metric and part; a summary shows the numbers the registry marks', () => {
  expect(metricLabel(EvaluationMetric.ROUGE2_F)).toBe('ROUGE-2 F');
  expect(metricLabel(EvaluationMetric.ROUGE_L_RECALL)).toBe('ROUGE-L recall');
  expect(metricLabel(EvaluationMetric.BLEU4)).toBe('BLEU-4');
  expect(EVALUATION_METRICS.filter(isSummaryMetric)).toEqual([
    EvaluationMetric.F1,
    EvaluationMetric.ROUGE_L_RECALL,
    EvaluationMetric.BLEU4,
  ]);
});

test('exactly one number is the headline metric, the one the registry marks, and its description says so', () => {
  expect(EVALUATION_METRICS.filter(isHeadlineMetric)).toEqual([EvaluationMetric.ROUGE_L_RECALL]);
  for (const m of EVALUATION_METRICS)
    expect(metricDescription(m).endsWith('(the headline metric).')).toBe(isHeadlineMetric(m));
});

test('stored columns read back as the scores they came from, and a set mean per column', () => {
  for (const s of samples) expect(unflattenScores(flattenScores(s))).toEqual(s);
  const means = flattenScores(aggregate(samples));
  for (const c of FLAT_SCORE_NAMES) {
    expect(means[c]).toBe((flattenScores(samples[0])[c] + flattenScores(samples[1])[c]) / 2);
  }
});
