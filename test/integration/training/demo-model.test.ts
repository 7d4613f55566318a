/**
 * The built-in demo model learns visibly: pre-trained as setup does it, a first job on the README's two rows with
 * every hyperparameter left at its default (for the demo model: what its config.json recommends, resolved as
 * createTrainingJob resolves them) lowers the loss, and the tuned model answers its prompts better than the
 * untouched base model in an evaluation: LoRA (the quick start's) and a full update by more than a quarter of the
 * loss, prompt tuning by less.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runEvaluation, type ScoredSample } from '../../../src/evaluation/run-evaluation';
import { writePretrainedDemoModel } from '../../../src/training/demo-model';
import {
  parseHyperparameters,
  resolveJobHyperparameters,
  splitStored,
} from '../../../src/training/hyperparameters';
import { readRecommendations } from '../../../src/training/hyperparameters/recommended';
import { TRAINING_METHODS } from '../../../src/training/methods';
import { runTraining } from '../../../src/training/run';

/** The README's quick start. */
const ROWS = [
  { prompt: '2+2=', response: '4' },
  { prompt: '3+3=', response: '6' },
];
const SCALES = [
  ['LORA', 'lora', 0.75],
  ['FULL', 'full', 0.75],
  ['PROMPT_TUNING', 'prompt_tuning', 0.9],
] as const;

async function accuracy(modelPath: string, adapterPath: string | null): Promise<number> {
  const samples: ScoredSample[] = [];
  await runEvaluation(
    {
      modelPath,
      adapterPath,
      rows: ROWS,
      indices: [0, 1],
      generation: { maxNewTokens: 8, temperature: 0, topP: 1, seed: 42, batchSize: 2 },
      scoring: { segmenter: 'jieba', stopwords: 'default' },
      executionProvider: 'cpu',
    },
    { onBatch: (s) => void samples.push(...s), shouldStop: () => false },
  );
  return samples.reduce((sum, s) => sum + s.scores.accuracy, 0) / samples.length;
}

describe('the built-in demo model', () => {
  it('is pre-trained at setup so that the quick-start LoRA job learns and beats the base model', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'whetstone-demo-pretrained-'));
    const model = path.join(root, 'demo');
    const report = await writePretrainedDemoModel(model);
    expect(report.steps).toBe(300);
    expect(report.finalLoss).toBeLessThan(report.firstLoss / 5);
    expect(readdirSync(model).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);

    const config = JSON.parse(readFileSync(path.join(model, 'config.json'), 'utf8')) as unknown;
    const recommended = readRecommendations(config);
    const base = await accuracy(model, null);
    for (const [parameterScale, engineScale, lossRatio] of SCALES) {
      // What createTrainingJob stores for `hyperparameters: {}` on the registered demo model.
      const stored = resolveJobHyperparameters(
        {},
        {
          method: 'SFT',
          parameterScale,
          modelMaxSequenceLength: 2048,
          recommended,
          path: ['hyperparameters'],
        },
      );
      const { hyperparameters: engine } = splitStored(stored);
      const losses: number[] = [];
      const out = path.join(root, engineScale);
      await runTraining(
        {
          method: TRAINING_METHODS.SFT!,
          parameterScale: engineScale,
          modelPath: model,
          rows: ROWS,
          template: 'plain',
          initAdapter: null,
          hyperparameters: parseHyperparameters(engine),
          output: out,
          resumeFrom: null,
          executionProvider: 'cpu',
          threads: null,
        },
        { onStep: (e) => void losses.push(e.loss), onCheckpoint: () => undefined, shouldStop: () => false },
      );
      expect(losses).toHaveLength((stored.epochs as number) * (ROWS.length / (stored.batchSize as number)));
      expect(losses.at(-1)).toBeLessThan(losses[0] * lossRatio);
      const tuned = engineScale === 'full' ? await accuracy(out, null) : await accuracy(model, out);
      expect(tuned).toBeGreaterThan(base);
    }
  }, 300_000);
});
