import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import { LOSS_SCALER_DEFAULTS } from '../../../src/engine/precision';
import { Batch, HostTensor } from '../../../src/training/objective';
import { Trainer, TrainerOptions } from '../../../src/training/trainer';
import { TrainState } from '../../../src/training/train-state';
import { isDecayed } from '../../../src/training/weight-decay';
import { LinearObjective, linearBatch } from './linear-objective';

const [IN, CLASSES] = [6, 3];
const opts: TrainerOptions = {
  adamW: { ...ADAMW_DEFAULTS, weightDecay: 0.1 },
  maxGradNorm: 1.0,
  weightDecayAll: false,
  threads: 1,
  random: Math.random,
};

function newTrainer(state?: TrainState): Trainer {
  const objective = new LinearObjective(IN, CLASSES);
  return new Trainer(objective, state ?? TrainState.initial(objective.initialParameters()), opts);
}

async function values(t: Trainer): Promise<Map<string, HostTensor>> {
  return t.state.valuesToHost();
}

function expectClose(a: Map<string, HostTensor>, b: Map<string, HostTensor>, tol: number): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, x] of a) {
    const y = b.get(name)!.data as Float32Array;
    (x.data as Float32Array).forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThanOrEqual(tol));
  }
}

test('training lowers the loss of a real objective', async () => {
  const t = newTrainer();
  const batch = linearBatch(0, 16, IN, CLASSES);
  const losses: number[] = [];
  for (let i = 0; i < 40; i++) losses.push((await t.step([batch], 0.05)).loss);
  expect(losses[39]).toBeLessThan(0.7 * losses[0]);
  expect(t.state.step).toBe(40);
  expect(t.compiledGraphs).toBe(1); // one shape, one session
  await t.release();
});

test('accumulating two micro-batches equals one step on their union (loss, grad norm, metrics, state)', async () => {
  const whole = newTrainer();
  const split = newTrainer();
  const union = linearBatch(0, 10, IN, CLASSES);
  const parts: Batch[] = [linearBatch(0, 4, IN, CLASSES), linearBatch(4, 6, IN, CLASSES)];
  for (let i = 0; i < 3; i++) {
    const a = await whole.step([union], 0.05);
    const b = await split.step(parts, 0.05);
    expect(b.loss).toBeCloseTo(a.loss, 5);
    expect(b.gradNorm).toBeCloseTo(a.gradNorm, 5);
    expect(b.metrics.logitSquares).toBeCloseTo(a.metrics.logitSquares, 4);
    expect(b.tokens).toBe(10);
  }
  expectClose(await values(whole), await values(split), 1e-5);
  expect(split.compiledGraphs).toBe(3); // two gradient shapes + the update graph
  await Promise.all([whole.release(), split.release()]);
});

test('state read back to the host and restored continues exactly', async () => {
  const batch = linearBatch(0, 12, IN, CLASSES);
  const straight = newTrainer();
  for (let i = 0; i < 4; i++) await straight.step([batch], 0.05);

  const first = newTrainer();
  for (let i = 0; i < 2; i++) await first.step([batch], 0.05);
  const resumed = newTrainer(TrainState.fromHost(first.state.step, await first.state.toHost()));
  for (let i = 0; i < 2; i++) await resumed.step([batch], 0.05);
  expect(resumed.state.step).toBe(4);
  expectClose(await values(straight), await values(resumed), 0);
  await Promise.all([straight.release(), first.release(), resumed.release()]);
});

test('an objective training tensors the state lacks is refused', async () => {
  const objective = new LinearObjective(IN, CLASSES);
  const only = new Map([...objective.initialParameters()].filter(([n]) => n === 'head.weight'));
  const t = new Trainer(objective, TrainState.initial(only), opts);
  await expect(t.step([linearBatch(0, 4, IN, CLASSES)], 0.1)).rejects.toThrow(
    /head\.bias.*not in the train state/,
  );
});

test('weight decay skips biases and norm weights unless decayAll', () => {
  const noDecay = [
    'model.layers.0.input_layernorm.weight',
    'model.layers.0.post_attention_layernorm.weight',
    'model.norm.weight',
    'model.layers.0.self_attn.q_proj.bias',
    'transformer.h.0.ln_1.weight',
    'transformer.ln_f.bias',
  ];
  const decay = [
    'model.embed_tokens.weight',
    'model.layers.0.self_attn.q_proj.weight',
    'lm_head.weight',
    'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
    'transformer.h.0.attn.c_attn.weight',
  ];
  noDecay.forEach((n) => expect(isDecayed(n)).toBe(false));
  decay.forEach((n) => expect(isDecayed(n)).toBe(true));
  noDecay.forEach((n) => expect(isDecayed(n, true)).toBe(true));
});

describe('mixed precision', () => {
  const mixed = (initialScale: number, state?: TrainState) => {
    const objective = new LinearObjective(IN, CLASSES);
    const lossScaling = { ...LOSS_SCALER_DEFAULTS, initialScale };
    return new Trainer(objective, state ?? TrainState.initial(objective.initialParameters()), {
      ...opts,
      mixedPrecision: true,
      lossScaling,
    });
  };

  test('an overflowing loss scale is halved and the same batch rerun: one step, the update of a good scale', async () => {
    const batch = linearBatch(0, 16, IN, CLASSES);
    const overflowing = mixed(2 ** 200);
    const first = await overflowing.step([batch], 0.05);
    expect(overflowing.state.step).toBe(1);
    expect(Number.isFinite(first.gradNorm)).toBe(true);
    const settled = overflowing.state.lossScaler!.scale;
    expect(settled).toBeLessThan(2 ** 200);
    // float16 products of scaled values differ from a run at the settled scale only by exact powers of two
    const direct = mixed(settled);
    const same = await direct.step([batch], 0.05);
    expect(first.loss).toBe(same.loss);
    expect(first.gradNorm).toBeCloseTo(same.gradNorm, 6);
    expectClose(await values(overflowing), await values(direct), 1e-7);
    await Promise.all([overflowing.release(), direct.release()]);
  });

  test('the loss scale is part of the train state: it grows after growthInterval good steps and resumes', async () => {
    const batch = linearBatch(0, 16, IN, CLASSES);
    const objective = new LinearObjective(IN, CLASSES);
    const state = TrainState.initial(objective.initialParameters());
    state.lossScaler = { scale: 1024, growthTracker: LOSS_SCALER_DEFAULTS.growthInterval - 1 };
    const t = mixed(2 ** 16, state);
    await t.step([batch], 0.05);
    expect(t.state.lossScaler).toEqual({ scale: 2048, growthTracker: 0 });
    await t.step([batch], 0.05);
    expect(t.state.lossScaler).toEqual({ scale: 2048, growthTracker: 1 });
    await t.release();
  });
});
