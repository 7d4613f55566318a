/**
 * Reward-model training against PyTorch: the `reward_model` trajectory of hf-tiny/reference.json (rm_init, a
 * LlamaForSequenceClassification, on pref_batch.safetensors: losses and gradient norms per step, and the rewards
 * of the chosen answers before training).
 */
import * as fs from 'node:fs';
import { loadModelConfig } from '../../../../src/models/config';
import { LoadedModel, SafetensorsWeights } from '../../../../src/models/model';
import { SafetensorsReader } from '../../../../src/models/safetensors';
import { TextTokenizer } from '../../../../src/models/tokenizer';
import {
  RewardModelObjective,
  rewardParameterization,
} from '../../../../src/training/alignment/reward-model';
import { RewardScorer } from '../../../../src/training/alignment/reward-scorer';
import { parseHyperparameters } from '../../../../src/training/hyperparameters';
import { Rng } from '../../../../src/util/rng';
import { TrainState } from '../../../../src/training/train-state';
import { Trainer, WEBGPU_LAYOUT } from '../../../../src/training/trainer';
import { hfTiny } from '../../../helpers/fixtures';
import { RECOMPUTED } from '../../../helpers/memory-layout';
import { prefBatch } from './helpers';

const reference = JSON.parse(fs.readFileSync(hfTiny('reference.json'), 'utf8'));
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** rm_init has no tokenizer files; it shares llama-tiny's. */
function rmInit(): LoadedModel {
  const config = loadModelConfig(hfTiny('rm_init', 'config.json'));
  return {
    dir: hfTiny('rm_init'),
    config,
    weights: new SafetensorsWeights(SafetensorsReader.openFolder(hfTiny('rm_init'))),
    tokenizer: TextTokenizer.load(hfTiny('llama-tiny'), config),
  };
}

test.each([
  ['', {}],
  [' in the WebGPU layout (grouped AdamW, pre-transposed weights)', WEBGPU_LAYOUT],
  [' with blocked attention and checkpointed layers', RECOMPUTED],
])('reward model (full)%s follows the PyTorch reward_model trajectory from rm_init', async (_, layout) => {
  const t = reference.trajectories.reward_model;
  const m = rmInit();
  const { batch, rows } = prefBatch();

  const scorer = new RewardScorer(m, { threads: 2 });
  const initial = await scorer.score(rows.chosen);
  await scorer.release();
  initial.forEach((r, i) => expect(Math.abs(r - t.initial_chosen_rewards[i])).toBeLessThan(1e-4));

  const params = rewardParameterization(m, {
    scale: 'full',
    hyperparameters: parseHyperparameters({}),
    adapterDir: null,
    rng: Rng.fromSeed(0),
  });
  expect(params.initial.has('score.weight')).toBe(true);
  expect(params.initial.has('lm_head.weight')).toBe(false);
  const trainer = new Trainer(
    new RewardModelObjective(params.forward, params.initial),
    TrainState.initial(params.initial),
    {
      adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: t.weight_decay },
      maxGradNorm: t.max_grad_norm,
      weightDecayAll: true,
      threads: 2,
      random: Math.random,
      ...layout,
    },
  );
  const results = [];
  for (let i = 0; i < t.steps; i++) results.push(await trainer.step([batch], t.lr));
  await trainer.release();
  expect(rel(results[0].loss, t.losses[0])).toBeLessThan(1e-4);
  expect(rel(results[0].gradNorm, t.grad_norms[0])).toBeLessThan(1e-4);
  results.forEach((r, i) => {
    expect(rel(r.loss, t.losses[i])).toBeLessThan(1e-3);
    expect(rel(r.gradNorm, t.grad_norms[i])).toBeLessThan(1e-3);
  });
  // the loss falls to ~0 as every chosen answer overtakes its rejected one by a growing margin
  expect(results[5].metrics.accuracy).toBe(1);
  expect(results[5].metrics.margin).toBeGreaterThan(results[1].metrics.margin);
});
