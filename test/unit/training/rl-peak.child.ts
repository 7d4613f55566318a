/**
 * One RL job of a random LLaMA-style model in this process (the worker's runTrainingJob: sampling, reward scoring,
 * log-probabilities, updates; two iterations, so that the second samples beside the training's sessions); prints
 * the process's peak RSS (KiB) and the memory plan the job ran with as JSON. argv: `run`, the folder `write` made,
 * the parameter scale, hyperparameters JSON, optionally the folder of another model's reward model; or `write`, a folder and DemoModelOptions JSON to write a random base
 * model and train a full-update reward model on it (one step). Run by rl-memory.test.ts, one process per
 * measurement, so that each peak is its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../../src/models/demo';
import { loadModel } from '../../../src/models/model';
import { rewardModelSize } from '../../../src/training/alignment/reward-checkpoint';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { TRAINING_METHODS } from '../../../src/training/methods';
import { planJobMemory } from '../../../src/training/prepare';
import { runTrainingJob } from '../../../src/training/run-job';
import { type ScaleName, engineName } from '../../../src/vocabulary';

const vmHwmKiB = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
const hooks = { onStep: () => undefined, onCheckpoint: () => undefined, shouldStop: () => false };
/** Four prompts of 60 bytes (the demo tokenizer: one token per byte). */
const PROMPTS = Array.from({ length: 4 }, (_, i) => ({
  prompt: `${i} ${'words and more words '.repeat(3)}`.slice(0, 60),
}));

async function write(dir: string, options: string): Promise<void> {
  writeDemoModel(path.join(dir, 'base'), JSON.parse(options));
  const rows = [
    { prompt: 'Sky?', chosen: ' Blue.', rejected: ' I do not know.' },
    { prompt: '2+2?', chosen: ' 4.', rejected: ' I do not know.' },
  ];
  const { finalCheckpoint } = await runTrainingJob(
    {
      jobId: 'reward',
      method: 'REWARD_MODEL',
      parameterScale: 'FULL',
      modelPath: path.join(dir, 'base'),
      dataset: { kind: 'PREFERENCE', rows },
      hyperparameters: { epochs: 1, batchSize: 2 },
      outputDir: path.join(dir, 'reward'),
      executionProvider: 'cpu',
    },
    hooks,
  );
  fs.writeFileSync(path.join(dir, 'reward-model'), finalCheckpoint);
}

async function run(dir: string, scale: ScaleName, hpJson: string, rewardDir = dir): Promise<void> {
  const raw = JSON.parse(hpJson) as Record<string, unknown>;
  const rewardModelPath = fs.readFileSync(path.join(rewardDir, 'reward-model'), 'utf8');
  await runTrainingJob(
    {
      jobId: 'rl',
      method: 'RL',
      parameterScale: scale,
      modelPath: path.join(dir, 'base'),
      dataset: { kind: 'PROMPT_ONLY', rows: PROMPTS },
      hyperparameters: raw,
      outputDir: path.join(dir, `rl-${scale}`),
      executionProvider: 'cpu',
      rewardModelPath,
    },
    hooks,
  );
  const peakKiB = vmHwmKiB();
  // The plan the job ran with (prepare.ts), computed again here: the same model, hyperparameters and budget.
  const hyperparameters = parseHyperparameters(raw, ['hyperparameters'], {
    runner: 'job',
    method: 'RL',
    parameterScale: scale,
  });
  const plan = planJobMemory(
    await loadModel(path.join(dir, 'base')),
    {
      method: TRAINING_METHODS.RL,
      parameterScale: engineName(scale),
      hyperparameters,
      executionProvider: 'cpu',
    },
    await rewardModelSize(rewardModelPath),
  );
  process.stdout.write(JSON.stringify({ peakKiB, plan }) + '\n');
}

const [mode, ...args] = process.argv.slice(2);
void (mode === 'write' ? write(args[0], args[1]) : run(args[0], args[1] as ScaleName, args[2], args[3]));
