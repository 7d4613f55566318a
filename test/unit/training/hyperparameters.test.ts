/** The one hyperparameter specification: its resolver for jobs and configs, its rules and its texts. */
import { UserInputError } from '../../../src/errors';
import {
  HYPERPARAMETERS,
  HYPERPARAMETER_NAMES,
  parseHyperparameters,
  resolveJobHyperparameters,
} from '../../../src/training/hyperparameters';
import { describeField } from '../../../src/training/hyperparameters/field';
import { readRecommendations } from '../../../src/training/hyperparameters/recommended';

const job = (raw: Record<string, unknown>, ctx: Record<string, unknown> = {}) =>
  resolveJobHyperparameters(raw, {
    method: 'SFT',
    parameterScale: 'LORA',
    modelMaxSequenceLength: 2048,
    path: ['input', 'hyperparameters'],
    ...ctx,
  });

const refusal = (f: () => unknown): { path: string[]; message: string } => {
  try {
    f();
  } catch (err) {
    if (err instanceof UserInputError) return { path: err.path, message: err.message };
    throw err;
  }
  throw new Error('not refused');
};

test('every field declares a description, a default and, when bounded, bounds in order', () => {
  for (const name of HYPERPARAMETER_NAMES) {
    const spec = HYPERPARAMETERS[name];
    expect(spec.description.length).toBeGreaterThan(10);
    expect('default' in spec).toBe(true);
    if (spec.type === 'int' || spec.type === 'float') expect(spec.min).toBeLessThan(spec.max);
    expect(describeField(spec)).toMatch(/Default: .+\.$/);
  }
});

test('a job fills every default for its context; checkpointEverySteps 0 is a value like any other', () => {
  const hp = job({ checkpointEverySteps: 0 });
  expect(hp).toMatchObject({ checkpointEverySteps: 0, maxSequenceLength: 1024, executionProvider: 'CPU' });
  expect(job({}).checkpointEverySteps).toBe(50);
  expect(parseHyperparameters({}).checkpointEverySteps).toBe(0);
  expect(Object.keys(hp).sort()).toEqual([...HYPERPARAMETER_NAMES].sort());
});

test('PROMPT_TUNING: virtual tokens and the sequence share the model positions, refused at creation', () => {
  const pt = { parameterScale: 'PROMPT_TUNING', modelMaxSequenceLength: 1024 };
  expect(job({}, pt).maxSequenceLength).toBe(1004);
  expect(job({ numVirtualTokens: 24 }, pt).maxSequenceLength).toBe(1000);
  expect(refusal(() => job({ maxSequenceLength: 1024 }, pt))).toEqual({
    path: ['input', 'hyperparameters', 'maxSequenceLength'],
    message:
      "maxSequenceLength 1024 + numVirtualTokens 20 exceeds the base model's maximum sequence length 1024",
  });
  expect(refusal(() => job({ numVirtualTokens: 1024 }, pt)).path).toEqual([
    'input',
    'hyperparameters',
    'numVirtualTokens',
  ]);
});

test('RL takes evalEverySteps but not the answer metrics; RL and a too long completion are refused at the field', () => {
  expect(job({ evalEverySteps: 5, validationSplitRatio: 0.2 }, { method: 'RL' }).evalEverySteps).toBe(5);
  expect(refusal(() => job({ evalMetricsAtEpochEnd: true }, { method: 'RL' }))).toEqual({
    path: ['input', 'hyperparameters', 'evalMetricsAtEpochEnd'],
    message: 'evalMetricsAtEpochEnd applies only to method SFT, not RL',
  });
  expect(refusal(() => job({ maxNewTokens: 64, maxSequenceLength: 64 }, { method: 'RL' })).path).toEqual([
    'input',
    'hyperparameters',
    'maxNewTokens',
  ]);
});

test('evaluation during training needs validation rows the dataset or the ratio provides', () => {
  const facts = (validationRowCount: number) => ({
    validationRowsFor: (r: number) => validationRowCount + Math.round(10 * r),
  });
  expect(refusal(() => job({ evalEverySteps: 5 }, facts(0))).path).toEqual([
    'input',
    'hyperparameters',
    'validationSplitRatio',
  ]);
  expect(job({ evalEverySteps: 5 }, facts(2)).evalEverySteps).toBe(5);
  expect(job({ evalEverySteps: 5, validationSplitRatio: 0.2 }, facts(0)).validationSplitRatio).toBe(0.2);
});

test('lists and texts are bounded', () => {
  const many = Array.from({ length: 65 }, (_, i) => `m${i}`);
  expect(refusal(() => job({ loraTargets: many })).path).toEqual(['input', 'hyperparameters', 'loraTargets']);
  expect(refusal(() => job({ loraTargets: ['q_proj', 'x'.repeat(129)] })).path).toEqual([
    'input',
    'hyperparameters',
    'loraTargets',
    '1',
  ]);
  const pt = { parameterScale: 'PROMPT_TUNING' };
  expect(refusal(() => job({ promptTuningInitText: 'a'.repeat(4097) }, pt)).path).toEqual([
    'input',
    'hyperparameters',
    'promptTuningInitText',
  ]);
  expect(job({ loraTargets: ['all-linear'] }).loraTargets).toBe('all-linear');
});

test('configs run fractional epochs and keep fields of other scales; jobs take whole epochs', () => {
  expect(parseHyperparameters({ epochs: 2.5, numVirtualTokens: 4 }).epochs).toBe(2.5);
  expect(refusal(() => job({ numVirtualTokens: 4 })).path).toEqual([
    'input',
    'hyperparameters',
    'numVirtualTokens',
  ]);
  expect(() => parseHyperparameters({ executionProvider: 'CPU' })).toThrow(/unknown key executionProvider/);
});

describe("a base model's recommended defaults", () => {
  const recommended = {
    LORA: { epochs: 10, learningRate: 0.01, loraTargets: ['all-linear'], evalMetricsAtEpochEnd: true },
    FULL: { learningRate: 3e-4, loraRank: 16 },
  };

  test("win over the fields' own defaults for the scale; given values win over them", () => {
    const hp = job({}, { recommended });
    expect(hp).toMatchObject({ epochs: 10, learningRate: 0.01, loraTargets: 'all-linear', batchSize: 8 });
    expect(job({ epochs: 2 }, { recommended })).toMatchObject({ epochs: 2, learningRate: 0.01 });
    expect(job({}, { recommended, parameterScale: 'FULL' })).toMatchObject({ epochs: 3, learningRate: 3e-4 });
  });

  test('are ignored for fields that do not apply to the method and scale', () => {
    // loraRank under FULL does not apply to a full update; evalMetricsAtEpochEnd is SFT's only.
    expect(job({}, { recommended, parameterScale: 'FULL' }).loraRank).toBe(8);
    expect(job({}, { recommended }).evalMetricsAtEpochEnd).toBe(true);
    expect(job({}, { recommended, method: 'DPO' }).evalMetricsAtEpochEnd).toBe(false);
  });

  test('are checked like given values: one out of range is refused, naming where it comes from', () => {
    const bad = { LORA: { learningRate: 5 } };
    expect(refusal(() => job({}, { recommended: bad }))).toEqual({
      path: ['input', 'hyperparameters', 'learningRate'],
      message:
        "the base model's config.json recommends a value out of range: " +
        'whetstone.recommended_hyperparameters.LORA.learningRate must be a number > 0 and <= 1, got 5',
    });
    // A value the user gives replaces it, so the job is not held up by the model's mistake.
    expect(job({ learningRate: 1e-3 }, { recommended: bad }).learningRate).toBe(1e-3);
  });

  test('are read from config.json: scales by name, known fields only, values in range', () => {
    const config = (r: unknown) => ({ model_type: 'llama', whetstone: { recommended_hyperparameters: r } });
    expect(readRecommendations({ model_type: 'llama' })).toBeNull();
    expect(
      readRecommendations(config({ LORA: { loraTargets: ['all-linear'], lrScheduler: 'COSINE' } })),
    ).toEqual({
      LORA: { loraTargets: 'all-linear', lrScheduler: 'cosine' },
    });
    expect(refusal(() => readRecommendations(config({ lora: {} }))).message).toBe(
      'config.json.whetstone.recommended_hyperparameters: lora is not a parameter scale (FULL, LORA, PROMPT_TUNING)',
    );
    expect(refusal(() => readRecommendations(config({ LORA: { epoch: 3 } })))).toEqual({
      path: ['config.json', 'whetstone', 'recommended_hyperparameters', 'LORA', 'epoch'],
      message: 'config.json.whetstone.recommended_hyperparameters.LORA: unknown hyperparameter epoch',
    });
    expect(refusal(() => readRecommendations(config({ FULL: { batchSize: 0 } }))).message).toBe(
      'config.json.whetstone.recommended_hyperparameters.FULL.batchSize must be an integer in [1, 1024], got 0',
    );
  });
});
