import { Extensions, Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { InputLimits } from '../limits';
import {
  DatasetSplit,
  EvaluatedModelKind,
  JobStatus,
  MetricSegmenter,
  MetricStopwords,
  ScoreColumns,
} from '../../db/entities';
import {
  EVALUATION_METRICS,
  EvaluationMetric,
  METRIC_DEFINITIONS,
  isHeadlineMetric,
  isSummaryMetric,
  metricDescription,
  metricLabel,
  metricValue,
  type SampleScores,
} from '../../evaluation/metrics';
import { registerJobStatus } from '../common/enums';
import { ModelRunInput } from '../common/model-run-input';
import { ExecutionProvider } from '../training-jobs/hyperparameters';
import { PageInfo } from '../training-jobs/types';

/** Most custom stop words, and the longest one. */
export const MAX_STOPWORDS = 10_000;
export const MAX_STOPWORD_CHARS = 100;

export enum SortDirection {
  ASC = 'ASC',
  DESC = 'DESC',
}

export enum EvaluationProgressKind {
  SNAPSHOT = 'SNAPSHOT',
  SAMPLES = 'SAMPLES',
  STATUS = 'STATUS',
}

registerEnumType(SortDirection, {
  name: 'SortDirection',
  description: 'Order of a sorted list.',
  valuesConfig: { ASC: { description: 'Smallest first.' }, DESC: { description: 'Largest first.' } },
});

registerEnumType(DatasetSplit, {
  name: 'DatasetSplit',
  description: 'A part of a dataset.',
  valuesConfig: {
    TRAIN: { description: 'The rows used for training.' },
    VALIDATION: { description: 'The rows held out for validation.' },
  },
});

/** JobStatus under the schema's name for evaluations (one status machine, two GraphQL names kept). */
const EvaluationJobStatus = { ...JobStatus };

registerJobStatus(
  EvaluationJobStatus,
  'EvaluationJobStatus',
  'Where an evaluation is in its life: QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED.',
  {
    RUNNING: 'A worker is generating and scoring.',
    SUCCEEDED: 'Every sample is scored; the aggregate results are stored.',
    CANCELLED: 'Stopped on request; the samples scored so far are kept.',
  },
);

registerEnumType(EvaluatedModelKind, {
  name: 'EvaluatedModelKind',
  description: 'What an evaluation runs.',
  valuesConfig: {
    BASE: { description: 'The registered base model as it is.' },
    FULL: { description: 'A full fine-tuning checkpoint (a whole model folder).' },
    LORA: { description: 'The base model with a LoRA adapter checkpoint.' },
    PROMPT_TUNING: { description: 'The base model with a prompt-tuning adapter checkpoint.' },
  },
});

registerEnumType(MetricSegmenter, {
  name: 'MetricSegmenter',
  description: 'How texts are cut into tokens before scoring (metrics.md section 1).',
  valuesConfig: {
    JIEBA: { description: 'jieba word segmentation (precise mode with HMM); for Chinese and mixed text.' },
    WHITESPACE: { description: 'Split on white space.' },
    CHAR: { description: 'Every character that is not white space.' },
  },
});

registerEnumType(MetricStopwords, {
  name: 'MetricStopwords',
  description: 'Which tokens are dropped before scoring.',
  valuesConfig: {
    DEFAULT: { description: 'The Chinese and English lists of the `stopword` package.' },
    NONE: { description: 'No stop words.' },
    CUSTOM: { description: 'The words in `customStopwords`.' },
  },
});

registerEnumType(EvaluationMetric, {
  name: 'EvaluationMetric',
  description: 'One stored score (per sample, and its mean per evaluation); every value is in [0, 1].',
  valuesConfig: Object.fromEntries(EVALUATION_METRICS.map((m) => [m, { description: metricDescription(m) }])),
});

registerEnumType(EvaluationProgressKind, {
  name: 'EvaluationProgressKind',
  description: 'What an evaluation progress event reports.',
  valuesConfig: {
    SNAPSHOT: { description: 'The job’s state when the subscription started (always the first event).' },
    SAMPLES: { description: 'More samples were scored and stored.' },
    STATUS: { description: 'The job’s status changed.' },
  },
});

@ObjectType('RougeScore', { description: 'A ROUGE score: precision, recall and F.' })
export class RougeScore {
  @Field(() => Float, { description: 'Overlap over the prediction’s count.' })
  precision: number;

  @Field(() => Float, { description: 'Overlap over the reference’s count.' })
  recall: number;

  @Field(() => Float, { description: 'Harmonic mean of precision and recall.' })
  f: number;
}

/** A sample's scores, or their means. */
export type EvaluationScores = SampleScores;

/** The GraphQL type of EvaluationScores: one field per registered metric, a RougeScore for a PRF metric. */
export const EvaluationScores = class EvaluationScores {} as new () => EvaluationScores;
ObjectType('EvaluationScores', {
  description: 'The six metrics of metrics.md: of one sample, or their means over an evaluation.',
})(EvaluationScores);
for (const m of METRIC_DEFINITIONS) {
  Field(() => (m.kind === 'prf' ? RougeScore : Float), { description: m.description })(
    EvaluationScores.prototype,
    m.key,
  );
}

@ObjectType('MetricValue', { description: 'One EvaluationMetric of a set of scores.' })
export class MetricValue {
  @Field(() => EvaluationMetric, { description: 'The metric.' })
  metric: EvaluationMetric;

  @Field(() => Float, { description: 'Its value, in [0, 1].' })
  value: number;
}

export const metricValues = (s: EvaluationScores): MetricValue[] =>
  EVALUATION_METRICS.map((metric) => ({ metric, value: metricValue(s, metric) }));

@ObjectType('EvaluationMetricInfo', {
  description:
    'An EvaluationMetric as people read it: what front ends label and show, from the metric registry.',
})
export class EvaluationMetricInfo {
  @Field(() => EvaluationMetric, { description: 'The metric.' })
  metric: EvaluationMetric;

  @Field({ description: 'Its name for people, e.g. a column heading ("ROUGE-L recall").' })
  label: string;

  @Field({ description: 'What it measures (the enum value’s description).' })
  description: string;

  @Field({
    description:
      'Whether it is one of the few metrics a summary of scores shows (a row of a list of evaluations, beside the ordering metric of a list of samples).',
  })
  summary: boolean;

  @Field({
    description:
      'Whether it is the headline figure of all metrics (exactly one is): what a list of samples is ordered by unless another is asked for.',
  })
  headline: boolean;
}

export const evaluationMetricInfos = (): EvaluationMetricInfo[] =>
  EVALUATION_METRICS.map((metric) => ({
    metric,
    label: metricLabel(metric),
    description: metricDescription(metric),
    summary: isSummaryMetric(metric),
    headline: isHeadlineMetric(metric),
  }));

@ObjectType('EvaluationJob', {
  description: 'An evaluation: a model’s answers to a dataset’s prompts, scored against the references.',
})
export class EvaluationJob {
  @Field(() => ID, { description: 'Evaluation id.' })
  id: string;

  @Field({ description: 'A label for people.' })
  name: string;

  @Field(() => EvaluationJobStatus, { description: 'Current status.' })
  status: JobStatus;

  @Field(() => EvaluatedModelKind, { description: 'What is evaluated: the base model, or a checkpoint.' })
  modelKind: EvaluatedModelKind;

  @Field(() => DatasetSplit, {
    nullable: true,
    description: 'The rows evaluated: one split, or null for all.',
  })
  datasetSplit: DatasetSplit | null;

  @Field(() => Int, { description: 'Most tokens generated per answer.' })
  maxNewTokens: number;

  @Field(() => Float, { description: 'Sampling temperature; 0 is greedy decoding.' })
  temperature: number;

  @Field(() => Float, { description: 'Nucleus (top-p) sampling threshold.' })
  topP: number;

  @Field(() => Int, { description: 'Seed of the sampling.' })
  seed: number;

  @Field(() => Int, { description: 'Prompts generated together.' })
  batchSize: number;

  @Field(() => MetricSegmenter, { description: 'Segmenter of the scoring.' })
  segmenter: MetricSegmenter;

  @Field(() => MetricStopwords, { description: 'Stop words of the scoring.' })
  stopwords: MetricStopwords;

  @Field(() => [String], { nullable: true, description: 'The stop words when `stopwords` is CUSTOM.' })
  customStopwords: string[] | null;

  /** An ExecutionProvider value, as the row stores it. */
  @Field(() => ExecutionProvider, { description: 'Where the worker generates.' })
  executionProvider: string;

  @Field(() => Int, { description: 'Samples scored and stored.' })
  samplesDone: number;

  @Field(() => Int, {
    nullable: true,
    description: 'Samples to score (rows minus skipped ones); null until a worker has read the rows.',
  })
  samplesTotal: number | null;

  @Field(() => Int, {
    description: 'Rows left out because their prompt leaves no room for maxNewTokens in the model’s context.',
  })
  skippedRows: number;

  @Field(() => String, { nullable: true, description: 'Why the evaluation failed; null unless FAILED.' })
  error: string | null;

  @Field(() => Int, { description: 'How many times a worker started or took over the evaluation.' })
  attempts: number;

  @Field({ description: 'When the evaluation was created.' })
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: 'When a worker first started it.' })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When it reached its final status.' })
  finishedAt: Date | null;

  /** Resolved by field resolvers. */
  projectId: string;
  baseModelId: string;
  trainingJobId: string | null;
  checkpointId: string | null;
  datasetId: string;
  cancelRequestedAt: Date | null;
  scores: ScoreColumns;
}

@ObjectType('EvaluationSample', { description: 'One scored answer.' })
export class EvaluationSample {
  @Field(() => Int, { description: 'The dataset row (0-based position in the imported file).' })
  index: number;

  @Field({ description: 'The prompt as the model saw it (rendered by the chat template for conversations).' })
  prompt: string;

  @Field({ description: 'The reference answer of the row.' })
  reference: string;

  @Field({ description: 'The model’s answer.' })
  prediction: string;

  @Field(() => EvaluationScores, { description: 'The sample’s scores.' })
  scores: EvaluationScores;
}

@ObjectType({ description: 'One evaluation in a page of evaluations.' })
export class EvaluationJobEdge {
  @Field({ description: 'Opaque cursor of this evaluation, for `after`.' })
  cursor: string;

  @Field(() => EvaluationJob, { description: 'The evaluation.' })
  node: EvaluationJob;
}

@ObjectType({ description: 'A page of evaluations.' })
export class EvaluationJobConnection {
  @Field(() => [EvaluationJobEdge], { description: 'The evaluations of this page.' })
  edges: EvaluationJobEdge[];

  @Field(() => PageInfo, { description: 'Whether more pages follow.' })
  pageInfo: PageInfo;
}

@ObjectType({ description: 'One sample in a page of samples.' })
export class EvaluationSampleEdge {
  @Field({ description: 'Opaque cursor of this sample, for `after`.' })
  cursor: string;

  @Field(() => EvaluationSample, { description: 'The sample.' })
  node: EvaluationSample;
}

@ObjectType({ description: 'A page of samples.' })
export class EvaluationSampleConnection {
  @Field(() => [EvaluationSampleEdge], { description: 'The samples of this page.' })
  edges: EvaluationSampleEdge[];

  @Field(() => PageInfo, { description: 'Whether more pages follow.' })
  pageInfo: PageInfo;
}

@InputType({ description: 'Samples ordered by one metric (ties by row index).' })
export class EvaluationSampleOrder {
  @Field(() => EvaluationMetric, { description: 'The metric to order by.' })
  metric: EvaluationMetric;

  @Field(() => SortDirection, {
    defaultValue: SortDirection.ASC,
    description: 'ASC (default) lists the worst samples first.',
  })
  direction: SortDirection;
}

@InputType({ description: 'Evaluations ordered by one aggregate metric (ties in id order).' })
export class EvaluationResultOrder {
  @Field(() => EvaluationMetric, { description: 'The metric to order by.' })
  metric: EvaluationMetric;

  @Field(() => SortDirection, {
    defaultValue: SortDirection.DESC,
    description: 'DESC (default): best first.',
  })
  direction: SortDirection;
}

@InputType({ description: 'Which evaluations to list; every given condition must hold.' })
export class EvaluationResultFilter {
  @Field(() => ID, {
    nullable: true,
    description: 'Evaluations of this base model (with or without a checkpoint).',
  })
  baseModelId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Evaluations of checkpoints of this training job.' })
  trainingJobId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Evaluations on this dataset.' })
  datasetId?: string | null;

  @Field(() => Date, { nullable: true, description: 'Created at or after this time.' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Created before this time.' })
  to?: Date | null;
}

@InputType({ description: 'Which evaluations to list, of any status; every given condition must hold.' })
export class EvaluationJobFilter extends EvaluationResultFilter {
  @Field(() => [EvaluationJobStatus], { nullable: true, description: 'Any of these statuses.' })
  status?: JobStatus[] | null;
}

@InputType({ description: 'A new evaluation job.' })
export class CreateEvaluationJobInput extends ModelRunInput {
  @Field({ description: 'A label for people, 1 to 200 characters.' })
  name: string;

  @Field(() => ID, { description: 'An SFT dataset of the project: prompts and reference responses.' })
  datasetId: string;

  @Field(() => DatasetSplit, { nullable: true, description: 'Evaluate only this split. Default: every row.' })
  datasetSplit?: DatasetSplit | null;

  @Field(() => Int, {
    defaultValue: 8,
    description: 'Prompts generated together. Integer in [1, 256]. Default: 8.',
  })
  batchSize: number;

  @Field(() => MetricSegmenter, { defaultValue: MetricSegmenter.JIEBA, description: 'Default: JIEBA.' })
  segmenter: MetricSegmenter;

  @Field(() => MetricStopwords, { defaultValue: MetricStopwords.DEFAULT, description: 'Default: DEFAULT.' })
  stopwords: MetricStopwords;

  @Extensions({ maxItems: MAX_STOPWORDS, maxLength: MAX_STOPWORD_CHARS } satisfies InputLimits)
  @Field(() => [String], {
    nullable: true,
    description: 'The stop words, with stopwords CUSTOM (1 to 10000 words of at most 100 characters).',
  })
  customStopwords?: string[] | null;
}

@ObjectType({ description: 'One metric across the compared evaluations.' })
export class MetricComparison {
  @Field(() => EvaluationMetric, { description: 'The metric.' })
  metric: EvaluationMetric;

  @Field(() => [Float], { description: 'Its mean in each evaluation, in the order of `evaluations`.' })
  values: number[];

  @Field(() => [Float], {
    description: 'Each value minus the first evaluation’s (the baseline); the first is 0.',
  })
  differences: number[];

  @Field(() => ID, { description: 'The evaluation with the highest value (the earliest listed on ties).' })
  bestEvaluationId: string;
}

@ObjectType({ description: 'One dataset row across the compared evaluations.' })
export class SampleComparison {
  @Field(() => Int, { description: 'The dataset row.' })
  index: number;

  @Field({ description: 'The prompt (as the first evaluation’s model saw it).' })
  prompt: string;

  @Field({ description: 'The reference answer.' })
  reference: string;

  @Field(() => [String], { description: 'Each evaluation’s answer, in the order of `evaluations`.' })
  predictions: string[];

  @Field(() => [Float], { description: 'The metric of each answer, in the order of `evaluations`.' })
  values: number[];

  @Field(() => Float, { description: 'The last evaluation’s value minus the first’s.' })
  difference: number;
}

@ObjectType({ description: 'One row in a page of compared samples.' })
export class SampleComparisonEdge {
  @Field({ description: 'Opaque cursor of this row, for `after`.' })
  cursor: string;

  @Field(() => SampleComparison, { description: 'The row.' })
  node: SampleComparison;
}

@ObjectType({ description: 'A page of compared samples.' })
export class SampleComparisonConnection {
  @Field(() => [SampleComparisonEdge], { description: 'The rows of this page.' })
  edges: SampleComparisonEdge[];

  @Field(() => PageInfo, { description: 'Whether more pages follow.' })
  pageInfo: PageInfo;
}

@ObjectType({ description: 'Evaluations side by side, with the differences of every metric.' })
export class EvaluationComparison {
  @Field(() => [EvaluationJob], {
    description: 'The evaluations, in the order asked; the first is the baseline.',
  })
  evaluations: EvaluationJob[];

  @Field(() => [MetricComparison], { description: 'Every metric across the evaluations.' })
  metrics: MetricComparison[];

  @Field({
    description: 'True when every evaluation scored the same dataset rows (their samples can be paired).',
  })
  sameRows: boolean;
}

@ObjectType({
  description: 'Live progress of one evaluation: a snapshot, then stored samples and status changes.',
})
export class EvaluationJobProgressEvent {
  @Field(() => EvaluationProgressKind, { description: 'What the event reports.' })
  kind: EvaluationProgressKind;

  @Field(() => ID, { description: 'The evaluation.' })
  jobId: string;

  @Field(() => EvaluationJobStatus, { description: 'The status at this event.' })
  status: JobStatus;

  @Field(() => Int, { description: 'Samples scored and stored.' })
  samplesDone: number;

  @Field(() => Int, {
    nullable: true,
    description: 'Samples to score; null until a worker has read the rows.',
  })
  samplesTotal: number | null;

  @Field(() => Float, { description: 'samplesDone / samplesTotal (0 while the total is unknown).' })
  progress: number;

  @Field(() => String, { nullable: true, description: 'Error message when the status is FAILED.' })
  error: string | null;

  @Field(() => EvaluationScores, {
    nullable: true,
    description:
      'The aggregate scores, on the event that reports SUCCEEDED (and a snapshot of a finished job).',
  })
  results: EvaluationScores | null;

  @Field({ description: 'When the event was published.' })
  at: Date;
}
