/**
 * Reward models written and read back: a full update is a LlamaForSequenceClassification folder with exactly the
 * tensors transformers saved in rm_init; LoRA is a PEFT SEQ_CLS adapter whose head is saved whole
 * (`base_model.model.score.weight`, modules_to_save). Read back (loadRewardModel, LoRA merged into the base), the
 * model scores pairs exactly as the trained values do in the evaluator.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LoadedModel, loadModel } from '../../../../src/models/model';
import { SafetensorsReader } from '../../../../src/models/safetensors';
import { Evaluator } from '../../../../src/training/alignment/evaluator';
import { loadRewardModel } from '../../../../src/training/alignment/reward-checkpoint';
import {
  RewardModelObjective,
  rewardParameterization,
} from '../../../../src/training/alignment/reward-model';
import { RewardScorer } from '../../../../src/training/alignment/reward-scorer';
import { withScoreHead } from '../../../../src/training/alignment/score-head';
import { parseHyperparameters } from '../../../../src/training/hyperparameters';
import { Rng } from '../../../../src/util/rng';
import { TrainState } from '../../../../src/training/train-state';
import { Trainer } from '../../../../src/training/trainer';
import { hfTiny } from '../../../helpers/fixtures';
import { prefBatch } from './helpers';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-rm-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Train 3 steps, save, and compare the saved model's pairwise loss with the evaluator's on the trained values. */
async function trainSaveReload(scale: 'full' | 'lora', m: LoadedModel, dir: string) {
  const hp = parseHyperparameters({ loraRank: 4, loraAlpha: 8 });
  const params = rewardParameterization(m, {
    scale,
    hyperparameters: hp,
    adapterDir: null,
    rng: Rng.fromSeed(1),
  });
  const objective = new RewardModelObjective(params.forward, params.initial);
  const trainer = new Trainer(objective, TrainState.initial(params.initial), {
    adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    maxGradNorm: 1,
    weightDecayAll: false,
    threads: 2,
    random: Math.random,
  });
  const { batch, rows } = prefBatch();
  for (let i = 0; i < 3; i++) await trainer.step([batch], 1e-2);
  await trainer.release();
  const values = await trainer.state.valuesToHost();
  params.save(dir, values);

  const evaluator = new Evaluator(objective, { threads: 2 });
  const evaluated = await evaluator.evaluate(values, [batch]);
  await evaluator.release();

  const scorer = new RewardScorer(await loadRewardModel(dir, hfTiny('llama-tiny')), { threads: 2 });
  const chosen = await scorer.score(rows.chosen);
  const rejected = await scorer.score(rows.rejected);
  await scorer.release();
  const losses = chosen.map((c, i) => Math.log1p(Math.exp(-(c - rejected[i]))));
  const loss = losses.reduce((a, b) => a + b, 0) / losses.length;
  expect(Math.abs(loss - evaluated.loss)).toBeLessThan(1e-5);
  const accuracy = chosen.filter((c, i) => c > rejected[i]).length / chosen.length;
  expect(evaluated.metrics.accuracy).toBeCloseTo(accuracy, 6);
  return { values, evaluated };
}

test('full: a sequence-classification folder with rm_init tensors and config, scoring as trained', async () => {
  const base = await loadModel(hfTiny('llama-tiny')); // a causal LM: gets a fresh score head
  const m = withScoreHead(base, () => 0.5);
  const dir = path.join(tmp, 'full');
  await trainSaveReload('full', m, dir);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  expect(config.architectures).toEqual(['LlamaForSequenceClassification']);
  expect(Object.keys(config.id2label)).toHaveLength(1);
  expect(config.pad_token_id).toBe(0);
  const saved = SafetensorsReader.openFolder(dir).names().sort();
  expect(saved).toEqual(SafetensorsReader.openFolder(hfTiny('rm_init')).names().sort());
  expect(fs.existsSync(path.join(dir, 'tokenizer.json'))).toBe(true);
});

test('LoRA: a PEFT SEQ_CLS adapter with the head under modules_to_save, scoring as trained', async () => {
  const m = withScoreHead(await loadModel(hfTiny('llama-tiny')), () => 0.5);
  const dir = path.join(tmp, 'lora');
  const { values } = await trainSaveReload('lora', m, dir);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', r: 4, lora_alpha: 8 });
  expect(config.modules_to_save).toContain('score');
  const keys = SafetensorsReader.open(path.join(dir, 'adapter_model.safetensors')).names();
  expect(keys).toContain('base_model.model.score.weight');
  expect(
    keys.filter((k) => k !== 'base_model.model.score.weight').every((k) => /\.lora_[AB]\.weight$/.test(k)),
  ).toBe(true);
  // the head trained along with the adapter
  const head = values.get('base_model.model.score.weight')!.data as Float32Array;
  const init = m.weights.get('score.weight').data;
  expect(head.some((v, i) => v !== init[i])).toBe(true);
});
