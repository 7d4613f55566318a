/**
 * DPO against PyTorch: the `dpo` trajectory of hf-tiny/reference.json (llama-tiny as policy and frozen reference,
 * beta 0.1, pref_batch.safetensors with prompts of 29, 30, 29 and 2 tokens): losses and gradient norms per step.
 * Also: LoRA's reference is the base with the adapter off (a fresh adapter, B = 0, starts at loss log 2).
 */
import * as fs from 'node:fs';
import { loadModel } from '../../../../src/models/model';
import { DpoObjective, collateDpo, withReferenceLogProbs } from '../../../../src/training/alignment/dpo';
import { parseHyperparameters } from '../../../../src/training/hyperparameters';
import { Batch } from '../../../../src/training/objective';
import { parameterize } from '../../../../src/training/parameterization';
import { Rng } from '../../../../src/util/rng';
import { TrainState } from '../../../../src/training/train-state';
import { Trainer, WEBGPU_LAYOUT } from '../../../../src/training/trainer';
import { hfTiny } from '../../../helpers/fixtures';
import { RECOMPUTED } from '../../../helpers/memory-layout';
import { prefBatch } from './helpers';

const reference = JSON.parse(fs.readFileSync(hfTiny('reference.json'), 'utf8'));
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const PROMPT_LENGTHS = [29, 30, 29, 2];

async function dpoBatch(): Promise<Batch> {
  const base = await loadModel(hfTiny('llama-tiny'));
  const { batch: fixture, rows } = prefBatch();
  const examples = await withReferenceLogProbs(
    base,
    rows.chosen.map((c, i) => ({
      promptLength: PROMPT_LENGTHS[i],
      chosenIds: c,
      rejectedIds: rows.rejected[i],
    })),
    { batchSize: 4, threads: 2 },
  );
  const batch = collateDpo(examples, { padTokenId: 0 });
  // collated exactly as the fixture's batch (each side padded to its own longest row)
  for (const name of ['chosen_ids', 'chosen_mask', 'rejected_ids', 'rejected_mask']) {
    expect(batch.tensors[name].shape).toEqual(fixture.tensors[name].shape);
    expect(batch.tensors[name].data).toEqual(fixture.tensors[name].data);
  }
  return batch;
}

async function train(scale: 'full' | 'lora', batch: Batch, steps: number, lr: number, layout = {}) {
  const model = await loadModel(hfTiny('llama-tiny'));
  const params = parameterize(model, {
    scale,
    hyperparameters: parseHyperparameters({ loraRank: 4, loraAlpha: 8 }),
    adapterDir: null,
    rng: Rng.fromSeed(3),
  });
  const trainer = new Trainer(
    new DpoObjective(params.forward, params.initial, 0.1),
    TrainState.initial(params.initial),
    {
      adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      maxGradNorm: 1,
      weightDecayAll: true,
      threads: 2,
      random: Math.random,
      ...layout,
    },
  );
  const results = [];
  for (let i = 0; i < steps; i++) results.push(await trainer.step([batch], lr));
  await trainer.release();
  return results;
}

test.each([
  ['', {}],
  [' (in the WebGPU layout)', WEBGPU_LAYOUT],
  [' with blocked attention, a chunked loss and checkpointed layers', RECOMPUTED],
])('full DPO%s follows the PyTorch dpo trajectory', async (_, layout) => {
  const t = reference.trajectories.dpo;
  const results = await train('full', await dpoBatch(), t.steps, t.lr, layout);
  expect(rel(results[0].loss, t.losses[0])).toBeLessThan(1e-4);
  expect(rel(results[0].gradNorm, t.grad_norms[0])).toBeLessThan(1e-4);
  results.forEach((r, i) => {
    expect(rel(r.loss, t.losses[i])).toBeLessThan(1e-3);
    expect(rel(r.gradNorm, t.grad_norms[i])).toBeLessThan(1e-3);
  });
  // policy == reference before the first update: rewards 0; afterwards chosen rises above rejected
  expect(Math.abs(results[0].metrics.rewardsChosen)).toBeLessThan(1e-5);
  const last = results[results.length - 1].metrics;
  expect(last.rewardsChosen).toBeGreaterThan(last.rewardsRejected);
  expect(last.accuracy).toBe(1);
  expect(last.margin).toBeCloseTo(last.rewardsChosen - last.rewardsRejected, 5);
});

test('LoRA DPO starts at log 2 (reference = base with the adapter off) and learns the preference', async () => {
  const results = await train('lora', await dpoBatch(), 8, 1e-2);
  expect(Math.abs(results[0].loss - Math.log(2))).toBeLessThan(1e-5);
  expect(results[7].loss).toBeLessThan(results[0].loss - 0.1);
  expect(results[7].metrics.accuracy).toBe(1);
});
