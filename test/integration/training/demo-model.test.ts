/**
 * The built-in demo model learns visibly: pre-trained as setup does it, the README's quick-start LoRA job (two
 * rows, ten epochs) lowers the loss by more than a quarter, and the tuned model answers its prompts better than the
 * untouched base model in an evaluation.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runEvaluation, type ScoredSample } from '../../../src/evaluation/run-evaluation';
import { writePretrainedDemoModel } from '../../../src/training/demo-model';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { TRAINING_METHODS } from '../../../src/training/methods';
import { runTraining } from '../../../src/training/run';

/** The README's quick start. */
const ROWS = [
  { prompt: '2+2=', response: '4' },
  { prompt: '3+3=', response: '6' },
];
const QUICK_START = { epochs: 10, batchSize: 2, learningRate: 0.01, loraTargets: ['all-linear'] };

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

    const losses: number[] = [];
    const adapter = path.join(root, 'lora');
    await runTraining(
      {
        method: TRAINING_METHODS.SFT!,
        parameterScale: 'lora',
        modelPath: model,
        rows: ROWS,
        template: 'plain',
        initAdapter: null,
        hyperparameters: parseHyperparameters(QUICK_START),
        output: adapter,
        resumeFrom: null,
        executionProvider: 'cpu',
        threads: null,
      },
      { onStep: (e) => void losses.push(e.loss), onCheckpoint: () => undefined, shouldStop: () => false },
    );
    expect(losses).toHaveLength(10);
    expect(losses[9]).toBeLessThan(losses[0] * 0.75);
    expect(await accuracy(model, adapter)).toBeGreaterThan(await accuracy(model, null));
  }, 300_000);
});
