/**
 * The built-in demo model (`npm run setup`): the tiny LLaMA-style demo folder (src/models/demo.ts), pre-trained
 * briefly with our own trainer (full update) on the generated demo corpus, so that its embeddings and output head
 * mean something and a first LoRA job on it learns visibly (a random frozen head caps LoRA). Its config.json
 * recommends the hyperparameters on which a first job (the README's two rows) learns (DEMO_RECOMMENDED), so a job
 * that leaves them at their defaults learns too. Deterministic for a machine: the same corpus, seeds and step count
 * give the same weights.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDemoModel } from '../models/demo';
import { demoCorpus } from './demo-corpus';
import { parseHyperparameters, type Recommendations } from './hyperparameters';
import { RECOMMENDATIONS_AT } from './hyperparameters/field';
import { TRAINING_METHODS } from './methods';
import { runTraining } from './run';

/** 300 steps of 32 texts: about 45 s on two cores. */
export const DEMO_PRETRAINING = {
  texts: 9_600,
  hyperparameters: {
    epochs: 1,
    batchSize: 32,
    learningRate: 3e-3,
    lrScheduler: 'cosine',
    warmupRatio: 0.05,
    weightDecay: 0,
    maxSequenceLength: 64,
    seed: 1,
  },
} as const;

/**
 * The defaults the demo model recommends, by scale, measured on the README's two rows (base model: `1` and `12`,
 * accuracy 0): the fields' own (3 epochs of batch 8 at 5e-5: three steps) leave the loss and the answers where
 * they were. Ten epochs of batch 2 with LoRA on every linear layer at 1e-2, or a full update at 3e-4, answer both
 * prompts right; prompt tuning, weaker here, answers one of two with 8 virtual tokens, 50 epochs of batch 2 at 0.1.
 */
export const DEMO_RECOMMENDED = {
  LORA: { epochs: 10, batchSize: 2, learningRate: 0.01, loraTargets: ['all-linear'] },
  FULL: { epochs: 10, batchSize: 2, learningRate: 3e-4 },
  PROMPT_TUNING: { epochs: 50, batchSize: 2, learningRate: 0.1, numVirtualTokens: 8 },
} as const satisfies Recommendations;

/** Adds the recommendations to a model folder's config.json, where registration reads them. */
export function writeRecommendations(dir: string, recommended: Recommendations): void {
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const [outer, inner] = RECOMMENDATIONS_AT;
  config[outer] = { ...(config[outer] as object | undefined), [inner]: recommended };
  writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
}

export interface PretrainingReport {
  steps: number;
  firstLoss: number;
  finalLoss: number;
  seconds: number;
}

/** Writes the pre-trained demo model into `dir` (a Hugging Face folder without trainer state). */
export async function writePretrainedDemoModel(
  dir: string,
  o: { texts?: number; onStep?(step: number, totalSteps: number, loss: number): void } = {},
): Promise<PretrainingReport> {
  const random = mkdtempSync(path.join(os.tmpdir(), 'whetstone-demo-init-'));
  const started = Date.now();
  const losses: number[] = [];
  try {
    writeDemoModel(random);
    await runTraining(
      {
        method: TRAINING_METHODS.SFT!,
        parameterScale: 'full',
        modelPath: random,
        // Plain text: an empty prompt (the BOS token), every token of the text labelled.
        rows: demoCorpus(o.texts ?? DEMO_PRETRAINING.texts).map((text) => ({ prompt: '', response: text })),
        template: 'plain',
        initAdapter: null,
        hyperparameters: parseHyperparameters(DEMO_PRETRAINING.hyperparameters),
        output: dir,
        resumeFrom: null,
        executionProvider: 'cpu',
        threads: null,
      },
      {
        onStep: (e) => {
          losses.push(e.loss);
          o.onStep?.(e.step, e.totalSteps, e.loss);
        },
        onCheckpoint: () => undefined,
        shouldStop: () => false,
      },
    );
  } finally {
    rmSync(random, { recursive: true, force: true });
  }
  // A model to register, not a run to resume.
  for (const file of ['optimizer.safetensors', 'trainer_state.json'])
    rmSync(path.join(dir, file), { force: true });
  writeRecommendations(dir, DEMO_RECOMMENDED);
  return {
    steps: losses.length,
    firstLoss: losses[0],
    finalLoss: losses[losses.length - 1],
    seconds: (Date.now() - started) / 1000,
  };
}
