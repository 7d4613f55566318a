/**
 * The alignment training steps place every float operation on the WebGPU device (static check against the
 * measured kernel table): the losses (log-sigmoid from Min/Abs/Exp/Log, the clipped ratio, k3 KL) never fall back
 * to the CPU; what does is the int64 index preparation on the inputs (padding, label shift, last-token index), as
 * in SFT, and none of it reads device data (no device-to-host copy mid-step). With the int32 feeds WebGPU runs get
 * (engine/layout `providerInts`), the evaluation and reward-scoring graphs have no CPU-placed node at all.
 */
import { Graph } from '../../../../src/engine/graph';
import { assertGpuPlaceable, fallbackNodes } from '../../../../src/engine/placement';
import { createSession } from '../../../../src/engine/session';
import { loadModel } from '../../../../src/models/model';
import { DpoObjective } from '../../../../src/training/alignment/dpo';
import {
  RewardModelObjective,
  rewardParameterization,
} from '../../../../src/training/alignment/reward-model';
import { RlObjective } from '../../../../src/training/alignment/rl/rl-objective';
import { Evaluator, buildEvaluationGraph } from '../../../../src/training/alignment/evaluator';
import { RewardScorer, buildRewardGraph } from '../../../../src/training/alignment/reward-scorer';
import { providerBatch } from '../../../../src/training/int32-batch';
import { withScoreHead } from '../../../../src/training/alignment/score-head';
import { parseHyperparameters } from '../../../../src/training/hyperparameters';
import { Batch, HostTensor } from '../../../../src/training/objective';
import { parameterize } from '../../../../src/training/parameterization';
import { Rng } from '../../../../src/util/rng';
import { buildFusedStepGraph } from '../../../../src/training/step-graphs';
import { hfTiny } from '../../../helpers/fixtures';

const int64 = (shape: number[]): HostTensor => ({
  data: new BigInt64Array(shape.reduce((a, b) => a * b)),
  shape,
  dtype: 'int64',
});
const float32 = (shape: number[]): HostTensor => ({
  data: new Float32Array(shape.reduce((a, b) => a * b)),
  shape,
  dtype: 'float32',
});
const batch = (tensors: Record<string, HostTensor>): Batch => ({ tensors, tokens: 1, examples: 2 });
const preference = () => ({
  chosen_ids: int64([2, 8]),
  chosen_mask: int64([2, 8]),
  chosen_labels: int64([2, 8]),
  rejected_ids: int64([2, 6]),
  rejected_mask: int64([2, 6]),
  rejected_labels: int64([2, 6]),
});
const optimizer = {
  adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
  maxGradNorm: 1,
  weightDecayAll: false,
};

function expectOnlyInputIndexFallbacks(g: Graph) {
  const fallbacks = fallbackNodes(g);
  expect(
    fallbacks.filter((f) => !/^(int64|bool)/.test(f.signature) || f.signature.includes('float')),
  ).toEqual([]);
  expect(fallbacks.filter((f) => f.afterDevice)).toEqual([]);
}

test('reward model, DPO and RL steps keep every float op on the device', async () => {
  const m = await loadModel(hfTiny('llama-tiny'));
  const o = {
    scale: 'full' as const,
    hyperparameters: parseHyperparameters({}),
    adapterDir: null,
    rng: Rng.fromSeed(0),
  };
  const p = parameterize(m, o);
  const rm = rewardParameterization(
    withScoreHead(m, () => 0.3),
    o,
  );
  expectOnlyInputIndexFallbacks(
    buildFusedStepGraph(new RewardModelObjective(rm.forward, rm.initial), batch(preference()), optimizer)
      .graph,
  );
  expectOnlyInputIndexFallbacks(
    buildFusedStepGraph(
      new DpoObjective(p.forward, p.initial),
      batch({ ...preference(), ref_chosen_logps: float32([2]), ref_rejected_logps: float32([2]) }),
      optimizer,
    ).graph,
  );
  expectOnlyInputIndexFallbacks(
    buildFusedStepGraph(
      new RlObjective(p.forward, p.initial, { clipEpsilon: 0.2, klCoef: 0.1 }),
      batch({
        input_ids: int64([2, 8]),
        attention_mask: int64([2, 8]),
        labels: int64([2, 8]),
        old_logps: float32([2, 8]),
        ref_logps: float32([2, 8]),
        advantages: float32([2]),
      }),
      optimizer,
    ).graph,
  );
});

/** A preference batch of random tokens as the collator builds it (int64), right-padded rows. */
function tokens(): Batch {
  const ids = [1, 5, 9, 30, 7, 2, 0, 0, 1, 44, 3, 8, 2, 0, 0, 0];
  const mask = ids.map((v, i) => (v !== 0 || i % 8 === 0 ? 1 : 0));
  const t = (v: number[]): HostTensor => ({
    data: BigInt64Array.from(v, BigInt),
    shape: [2, 8],
    dtype: 'int64',
  });
  return batch({
    chosen_ids: t(ids),
    chosen_mask: t(mask),
    chosen_labels: t(ids),
    rejected_ids: t(ids),
    rejected_mask: t(mask),
    rejected_labels: t(ids),
  });
}

async function rewardModel() {
  const m = await loadModel(hfTiny('llama-tiny'));
  const rm = withScoreHead(m, () => 0.3);
  const params = rewardParameterization(rm, {
    scale: 'full',
    hyperparameters: parseHyperparameters({}),
    adapterDir: null,
    rng: Rng.fromSeed(0),
  });
  return { rm, objective: new RewardModelObjective(params.forward, params.initial), initial: params.initial };
}

test('the evaluation graph on webgpu (reward model objective) takes the int32 batch and has no CPU-placed node', async () => {
  const { objective } = await rewardModel();
  const fed = providerBatch(tokens(), 'webgpu');
  expect(Object.values(fed.tensors).map((t) => t.dtype)).toEqual(Array(6).fill('int32'));
  // The int64 batch left the last-token index and the label arithmetic to the CPU.
  const int64Graph = buildEvaluationGraph(objective, tokens(), { executionProvider: 'webgpu' }).graph;
  expect(fallbackNodes(int64Graph).length).toBeGreaterThan(0);
  assertGpuPlaceable(buildEvaluationGraph(objective, fed, { executionProvider: 'webgpu' }).graph);
});

test("the reward scorer's graph on webgpu takes int32 ids and mask, has no CPU-placed node, and scores as the CPU's", async () => {
  const { rm } = await rewardModel();
  const gpu = buildRewardGraph(rm, [2, 8], 'webgpu');
  expect(gpu.feeds.map((t) => t.dtype)).toEqual(['int32', 'int32']);
  expect(buildRewardGraph(rm, [2, 8], 'cpu').feeds.map((t) => t.dtype)).toEqual(['int64', 'int64']);
  assertGpuPlaceable(gpu);
  // The webgpu graph (int32 feeds, its layout) run on the CPU provider against the CPU scorer.
  const rows = [
    [1, 5, 9, 30, 7, 2],
    [1, 44, 3],
  ];
  const scorer = new RewardScorer(rm, { bucket: 8 });
  const expected = await scorer.score(rows);
  await scorer.release();
  const session = await createSession(gpu);
  const padded = (r: number[], v: (x: number) => number) => [
    ...r.map(v),
    ...Array<number>(8 - r.length).fill(0),
  ];
  const out = await session.run({
    input_ids: Int32Array.from(rows.flatMap((r) => padded(r, (x) => x))),
    attention_mask: Int32Array.from(rows.flatMap((r) => padded(r, () => 1))),
  });
  await session.release();
  const rewards = Array.from(out.rewards.data as Float32Array);
  rewards.forEach((r, i) =>
    expect(Math.abs(r - expected[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected[i]))),
  );
  expect(new Set(expected).size).toBe(2);
});

// Needs a WebGPU adapter: a GPU, or lavapipe on the CPU (`. scripts/gpu/lavapipe.sh`), and WHETSTONE_WEBGPU=1.
const withAdapter = process.env.WHETSTONE_WEBGPU === '1' ? test : test.skip;

withAdapter('on webgpu the evaluator and the reward scorer give the CPU figures (int32 feeds)', async () => {
  const { rm, objective, initial } = await rewardModel();
  const figures = [];
  for (const executionProvider of ['cpu', 'webgpu'] as const) {
    const evaluator = new Evaluator(objective, { executionProvider });
    const scorer = new RewardScorer(rm, { executionProvider, bucket: 8 });
    figures.push({
      loss: (await evaluator.evaluate(initial, [tokens()])).loss,
      rewards: await scorer.score([
        [1, 5, 9, 30, 7, 2],
        [1, 44, 3],
      ]),
    });
    await evaluator.release();
    await scorer.release();
  }
  const [cpu, gpu] = figures;
  expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-4 * Math.abs(cpu.loss));
  gpu.rewards.forEach((r, i) => expect(Math.abs(r - cpu.rewards[i])).toBeLessThan(1e-4));
});
