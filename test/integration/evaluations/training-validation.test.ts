/**
 * Evaluation during training, through the worker's entry point on the demo model: rows held out by
 * validationSplitRatio join the dataset's validation rows; eval_loss every evalEverySteps steps and at epoch ends,
 * the six metrics at epoch ends, all in the step events. The last step's numbers are recomputed independently
 * from the final checkpoint: the loss with the one-shot inference helper, the metrics with runEvaluation.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../src/errors';
import { aggregate, FLAT_SCORE_NAMES, flattenScores } from '../../../src/evaluation/metrics';
import { runEvaluation, ScoredSample } from '../../../src/evaluation/run-evaluation';
import { tokenLosses } from '../../../src/models/forward';
import { loadAdapter, loadModel } from '../../../src/models/model';
import { writeDemoModel } from '../../../src/models/demo';
import { readTrainerState } from '../../../src/training/checkpoint';
import { StepEvent, TrainingRunSpec, runTrainingJob } from '../../../src/training/run-job';
import { splitRows } from '../../../src/training/validation';

const row = (i: number) => ({
  prompt: `Q${i}: what is ${i} plus one?`,
  response: ` The answer is ${i + 1}.`,
});
/** Five copies of eight rows: 30 training rows after the held-out 10, so an epoch is 30 steps of one row. */
const TRAIN = Array.from({ length: 40 }, (_, i) => row(i % 8));
const GIVEN = [row(8), row(9)];

let modelDir: string;
let out: string;
beforeAll(() => {
  modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-demo-'));
  writeDemoModel(modelDir);
});
beforeEach(() => (out = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-val-'))));
afterEach(() => fs.rmSync(out, { recursive: true, force: true }));
afterAll(() => fs.rmSync(modelDir, { recursive: true, force: true }));

const HP = {
  epochs: 2,
  batchSize: 1,
  maxSequenceLength: 64,
  seed: 3,
  validationSplitRatio: 0.25,
  evalEverySteps: 20,
  evalMetricsAtEpochEnd: true,
  evalMaxNewTokens: 20,
};
const SCALES = {
  LORA: { learningRate: 0.01, loraRank: 8, loraAlpha: 16, loraTargets: 'all-linear' },
  FULL: { learningRate: 0.003 },
};

const spec = (
  hyperparameters: Record<string, unknown>,
  validationRows: unknown[] = GIVEN,
  parameterScale: keyof typeof SCALES = 'LORA',
): TrainingRunSpec => ({
  jobId: 'validated',
  method: 'SFT',
  parameterScale,
  modelPath: modelDir,
  dataset: { kind: 'SFT', rows: TRAIN, validationRows },
  hyperparameters,
  outputDir: out,
  executionProvider: 'cpu',
});

test.each(Object.keys(SCALES) as (keyof typeof SCALES)[])(
  '%s: eval_loss every N steps and at epoch ends, the six metrics at epoch ends, equal to an independent recomputation',
  async (scale) => {
    const steps: StepEvent[] = [];
    const result = await runTrainingJob(spec({ ...HP, ...SCALES[scale] }, GIVEN, scale), {
      onStep: (e) => void steps.push(e),
      onCheckpoint: () => undefined,
      shouldStop: () => false,
    });
    expect(steps).toHaveLength(60);
    const has = (key: string) => steps.filter((s) => s.extra?.[key] !== undefined).map((s) => s.step);
    expect(has('eval_loss')).toEqual([20, 30, 40, 60]);
    expect(has('eval_rouge_l_recall')).toEqual([30, 60]);
    const last = steps[59].extra!;
    expect(Object.keys(last).sort()).toEqual(
      ['eval_loss', ...FLAT_SCORE_NAMES.map((n) => `eval_${n}`)].sort(),
    );
    expect(last.eval_loss).toBeLessThan(steps[19].extra!.eval_loss);
    // The model has learnt enough for the check below to compare real numbers.
    expect(last.eval_rouge_l_recall).toBeGreaterThan(0);

    // The validation rows: the given ones, then the held-out training rows.
    const validation = splitRows(TRAIN, GIVEN, HP.validationSplitRatio, HP.seed).validation;
    expect(validation).toHaveLength(12);
    expect(validation.slice(0, 2)).toEqual(GIVEN);

    const model = await loadModel(modelDir);
    const trained = scale === 'FULL' ? await loadModel(result.finalCheckpoint) : model;
    const adapter = scale === 'FULL' ? undefined : loadAdapter(result.finalCheckpoint, model);
    const tok = model.tokenizer;
    const eos = tok.eosTokenId as number;
    const sequences = validation.map((r) => {
      const { prompt, response } = r as { prompt: string; response: string };
      const p = tok.encode(prompt);
      return {
        ids: [...p, ...tok.encode(response, { addSpecialTokens: false }), eos],
        promptLength: p.length,
      };
    });
    const losses = await tokenLosses(
      trained,
      sequences.map((s) => s.ids),
      { adapter },
    );
    // The SFT loss: the mean over the response tokens (each predicted from everything before it).
    const response = losses.flatMap((l, i) => l.slice(sequences[i].promptLength - 1));
    const loss = response.reduce((a, b) => a + b, 0) / response.length;
    expect(last.eval_loss).toBeCloseTo(loss, 5);

    const samples: ScoredSample[] = [];
    await runEvaluation(
      {
        modelPath: scale === 'FULL' ? result.finalCheckpoint : modelDir,
        adapterPath: scale === 'FULL' ? null : result.finalCheckpoint,
        rows: validation,
        indices: validation.map((_, i) => i),
        generation: { maxNewTokens: 20, temperature: 0, topP: 1, seed: 0, batchSize: 1 },
        scoring: {},
        executionProvider: 'cpu',
      },
      { onBatch: (s) => void samples.push(...s), shouldStop: () => false },
    );
    const means = flattenScores(aggregate(samples.map((s) => s.scores)));
    for (const [name, value] of Object.entries(means)) expect(last[`eval_${name}`]).toBeCloseTo(value, 12);
  },
);

test('evaluation during training without validation rows is a clear input error', async () => {
  const run = runTrainingJob(spec({ ...HP, validationSplitRatio: 0, epochs: 0.1 }, []), {
    onStep: () => undefined,
    onCheckpoint: () => undefined,
    shouldStop: () => false,
  });
  await expect(run).rejects.toThrow(UserInputError);
  await expect(run).rejects.toMatchObject({ path: ['hyperparameters', 'validationSplitRatio'] });
});

test('validation rows are held out of training, and nothing is evaluated unless asked', async () => {
  const steps: StepEvent[] = [];
  await runTrainingJob(spec({ ...HP, evalEverySteps: 0, evalMetricsAtEpochEnd: false, epochs: 0.1 }), {
    onStep: (e) => void steps.push(e),
    onCheckpoint: () => undefined,
    shouldStop: () => false,
  });
  expect(steps.every((s) => s.extra?.eval_loss === undefined)).toBe(true);
  expect(readTrainerState(out).data.examples).toBe(30);
});
