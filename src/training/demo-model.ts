/**
 * The built-in demo model (`npm run setup`): the tiny LLaMA-style demo folder (src/models/demo.ts), pre-trained
 * briefly with our own trainer (full update) on the generated demo corpus, so that its embeddings and output head
 * mean something and a first LoRA job on it learns visibly (a random frozen head caps LoRA). Deterministic for a
 * machine: the same corpus, seeds and step count give the same weights.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDemoModel } from '../models/demo';
import { demoCorpus } from './demo-corpus';
import { parseHyperparameters } from './hyperparameters';
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
  return {
    steps: losses.length,
    firstLoss: losses[0],
    finalLoss: losses[losses.length - 1],
    seconds: (Date.now() - started) / 1000,
  };
}
