/**
 * The alignment training steps place every float operation on the WebGPU device (static check against the
 * measured kernel table): the losses (log-sigmoid from Min/Abs/Exp/Log, the clipped ratio, k3 KL) never fall back
 * to the CPU; what does is the int64 index preparation on the inputs (padding, label shift, last-token index), as
 * in SFT, and none of it reads device data (no device-to-host copy mid-step).
 */
import { Graph } from '../../../../src/engine/graph';
import { fallbackNodes } from '../../../../src/engine/placement';
import { loadModel } from '../../../../src/models/model';
import { DpoObjective } from '../../../../src/training/alignment/dpo';
import {
  RewardModelObjective,
  rewardParameterization,
} from '../../../../src/training/alignment/reward-model';
import { RlObjective } from '../../../../src/training/alignment/rl/rl-objective';
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
