/**
 * RL end to end on a toy task, with tiny random models made in the test: a reward model is trained to prefer
 * completions that contain a digit, which the untrained policy (near-uniform over 259 byte tokens, 3 new tokens)
 * produces in about one sample in nine; twenty RL iterations with fixed seeds must raise the mean reward clearly.
 * A run with a large klCoef must stay closer to the reference (smaller KL) than one with a small klCoef; LoRA
 * runs against the base with its adapter off.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeDemoModel } from '../../../../src/models/demo';
import { LoadedModel, loadModel } from '../../../../src/models/model';
import { PreferenceExample } from '../../../../src/data/examples';
import { collatePreference } from '../../../../src/training/batches';
import { Evaluator } from '../../../../src/training/alignment/evaluator';
import {
  RewardModelObjective,
  rewardParameterization,
} from '../../../../src/training/alignment/reward-model';
import { RewardScorer } from '../../../../src/training/alignment/reward-scorer';
import { withScoreHead } from '../../../../src/training/alignment/score-head';
import { RlObjective } from '../../../../src/training/alignment/rl/rl-objective';
import { RlTrainer } from '../../../../src/training/alignment/rl/rl-trainer';
import { rewardModelRewards } from '../../../../src/training/alignment/rl/rewards';
import { parseHyperparameters } from '../../../../src/training/hyperparameters';
import { parameterize } from '../../../../src/training/parameterization';
import { Rng } from '../../../../src/util/rng';
import { TrainState } from '../../../../src/training/train-state';
import { Trainer } from '../../../../src/training/trainer';
import { MemoryWeights } from '../../../../src/models/model';

jest.setTimeout(120_000);

const TINY = {
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 64,
  maxPositionEmbeddings: 64,
};
const FIRST_BYTE = 3; // demo tokenizer: <pad> <s> </s>, then bytes
const DIGITS = new Set(Array.from({ length: 10 }, (_, i) => FIRST_BYTE + 0x30 + i));
const hasDigit = (ids: readonly number[]) => ids.some((t) => DIGITS.has(t));

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-rl-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const optimizer = (rng: Rng) => ({
  adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
  maxGradNorm: 1,
  weightDecayAll: false,
  threads: 2,
  random: () => rng.next(),
});

function randomAnswer(rng: Rng, digit: boolean): number[] {
  const length = 1 + rng.int(3);
  const answer = Array.from({ length }, () => {
    let t: number;
    do t = FIRST_BYTE + rng.int(256);
    while (DIGITS.has(t));
    return t;
  });
  if (digit) answer[rng.int(length)] = FIRST_BYTE + 0x30 + rng.int(10);
  return answer;
}

function pairs(prompts: number[][], n: number, rng: Rng): PreferenceExample[] {
  return Array.from({ length: n }, () => {
    const prompt = prompts[rng.int(prompts.length)];
    return {
      promptLength: prompt.length,
      chosenIds: [...prompt, ...randomAnswer(rng, true), 2],
      rejectedIds: [...prompt, ...randomAnswer(rng, false), 2],
    };
  });
}

async function trainRewardModel(base: LoadedModel, prompts: number[][]) {
  const rng = Rng.fromSeed(7);
  const m = withScoreHead(base, () => rng.next());
  const params = rewardParameterization(m, {
    scale: 'full',
    hyperparameters: parseHyperparameters({}),
    adapterDir: null,
    rng,
  });
  const objective = new RewardModelObjective(params.forward, params.initial);
  const trainer = new Trainer(objective, TrainState.initial(params.initial), optimizer(rng));
  const collate = (e: PreferenceExample[]) => collatePreference(e, { padTokenId: 0, padToMultipleOf: 8 });
  for (let step = 0; step < 60; step++) await trainer.step([collate(pairs(prompts, 32, rng))], 3e-3);
  await trainer.release();
  const values = await trainer.state.valuesToHost();
  const evaluator = new Evaluator(objective, { threads: 2 });
  const validation = await evaluator.evaluate(values, [collate(pairs(prompts, 64, rng))]);
  await evaluator.release();
  const trained = {
    ...m,
    weights: new MemoryWeights(
      [...values].map(([n, t]) => [n, { data: t.data as Float32Array, shape: t.shape }]),
    ),
  };
  return { model: trained, validation };
}

interface Run {
  reward: number[];
  digits: number[];
  /** Mean per-token KL to the reference at each optimizer step. */
  kl: number[];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function runRl(scale: 'full' | 'lora', klCoef: number, iterations: number): Promise<Run> {
  const base = await loadModel(path.join(tmp, 'policy'));
  const rng = Rng.fromSeed(11);
  const hyperparameters = parseHyperparameters({ loraRank: 8, loraAlpha: 16, loraTargets: 'all-linear' });
  const params = parameterize(base, { scale, hyperparameters, adapterDir: null, rng });
  const scorer = new RewardScorer(rewardModel, { threads: 2 });
  const rl = new RlTrainer(
    base,
    params,
    new RlObjective(params.forward, params.initial, { clipEpsilon: 0.2, klCoef }),
    rewardModelRewards(scorer, base.tokenizer),
    {
      numGenerations: 8,
      maxNewTokens: 3,
      temperature: 1,
      topP: 1,
      rlEpochs: 2,
      microBatches: 2,
    },
    optimizer(rng),
  );
  const run: Run = { reward: [], digits: [], kl: [] };
  try {
    for (let i = 0; i < iterations; i++) {
      const it = await rl.iteration(prompts, scale === 'full' ? 1e-2 : 3e-2, 1000 + i);
      run.reward.push(it.rewardMean);
      run.digits.push(it.samples.filter((x) => hasDigit(x.completion)).length / it.samples.length);
      run.kl.push(...it.updates.map((u) => u.metrics.kl));
    }
  } finally {
    await rl.release();
    await scorer.release();
  }
  return run;
}

let rewardModel: LoadedModel;
let prompts: number[][];
let small: Run;

beforeAll(async () => {
  writeDemoModel(path.join(tmp, 'policy'), { ...TINY, seed: 1 });
  writeDemoModel(path.join(tmp, 'rm'), { ...TINY, seed: 100 });
  const tok = (await loadModel(path.join(tmp, 'policy'))).tokenizer;
  prompts = ['Q:', 'A?', 'x=', 'say'].map((t) => tok.encode(t));
  const rm = await trainRewardModel(await loadModel(path.join(tmp, 'rm')), prompts);
  expect(rm.validation.metrics.accuracy).toBeGreaterThan(0.95); // held-out pairs
  rewardModel = rm.model;
});

test('full update: the mean reward rises clearly as the policy learns the rare property', async () => {
  small = await runRl('full', 0.01, 16);
  expect(small.kl[0]).toBeLessThan(1e-6); // the first step's policy is the reference
  expect(mean(small.digits.slice(0, 2))).toBeLessThan(0.2); // rare at first
  expect(mean(small.digits.slice(-3))).toBeGreaterThan(0.7);
  expect(mean(small.reward.slice(-3)) - mean(small.reward.slice(0, 3))).toBeGreaterThan(2);
});

test('a large klCoef keeps the policy closer to the reference than a small one', async () => {
  const large = await runRl('full', 1, 10);
  // the same optimizer steps of both runs (iterations 7 to 10, two steps each). The ratio depends on the CPU's
  // float rounding through the sampled completions (0.50 on one machine, under 0.5 on another): a KL term that did
  // nothing would give about 1.
  expect(mean(large.kl.slice(12, 20))).toBeLessThan(0.75 * mean(small.kl.slice(12, 20)));
});

test('LoRA: the reference is the base with the adapter off; the adapter moves away from it', async () => {
  // (LoRA on this random model cannot lift the digit logits far: the head and final norm stay frozen.)
  const run = await runRl('lora', 0.01, 4);
  expect(run.kl[0]).toBeLessThan(1e-6); // fresh adapter (B = 0): policy == reference
  expect(run.kl[run.kl.length - 1]).toBeGreaterThan(1e-4);
  expect(run.reward.every(Number.isFinite)).toBe(true);
});
