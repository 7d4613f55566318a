export { type PRF } from './scores';
export { type FlatScoreName, METRIC_DEFINITIONS, type SampleScores, type SetScores } from './registry';
export { type MetricDefinition, PRF_PARTS, type PRFPart, defineMetric } from './metric';
export {
  EVALUATION_METRICS,
  EvaluationMetric,
  FLAT_SCORE_NAMES,
  flattenScores,
  metricColumn,
  isHeadlineMetric,
  isSummaryMetric,
  metricDescription,
  metricLabel,
  metricValue,
  unflattenScores,
} from './flat-scores';
export { aggregate, scoreSample, scoreTokens } from './score';
export { bleu4, brevityPenalty } from './bleu';
export { lcsLength } from './lcs';
export { tokenize, type TokenizeOptions } from '../text';
