import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import {
  LoopOptions,
  LoopPosition,
  START,
  Shuffler,
  TrainingData,
  batchSteps,
  planSteps,
  runLoop,
} from '../../../src/training/loop';
import { warmupStepsFromRatio } from '../../../src/training/schedules';
import { StepEvent } from '../../../src/training/progress';
import { TrainState } from '../../../src/training/train-state';
import { Trainer } from '../../../src/training/trainer';
import { LinearObjective, linearBatch } from './linear-objective';

const [IN, CLASSES, N] = [5, 3, 10];

/** Fisher-Yates over an LCG whose whole state is one number. */
class LcgShuffler implements Shuffler {
  constructor(public state: number) {}
  permutation(n: number): number[] {
    const order = [...Array(n).keys()];
    for (let i = n - 1; i > 0; i--) {
      this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
      const j = this.state % (i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}

/** Row i of the synthetic data set; remembers which rows each batch held. */
class RowData implements TrainingData {
  readonly size = N;
  readonly seen: number[][] = [];
  batch(indices: readonly number[]) {
    this.seen.push([...indices]);
    const rows = indices.map((i) => linearBatch(i, 1, IN, CLASSES));
    const x = new Float32Array(indices.length * IN);
    const labels = new BigInt64Array(indices.length);
    rows.forEach((r, k) => {
      x.set(r.tensors.x.data as Float32Array, k * IN);
      labels[k] = (r.tensors.labels.data as BigInt64Array)[0];
    });
    return {
      tensors: {
        x: { data: x, shape: [indices.length, IN], dtype: 'float32' as const },
        labels: { data: labels, shape: [indices.length], dtype: 'int64' as const },
      },
      tokens: indices.length,
      examples: indices.length,
    };
  }
}

const options: LoopOptions = {
  epochs: 2,
  batchSize: 4,
  gradientAccumulationSteps: 2,
  shuffle: true,
  lrScheduler: 'linear',
  learningRate: 0.05,
  warmupRatio: 0.25,
};

function trainer(state?: TrainState): Trainer {
  const objective = new LinearObjective(IN, CLASSES);
  return new Trainer(objective, state ?? TrainState.initial(objective.initialParameters()), {
    adamW: ADAMW_DEFAULTS,
    maxGradNorm: 1,
    weightDecayAll: false,
    threads: 1,
    random: Math.random,
  });
}

test('the plan: leftover micro-batches make a short last step, fractional epochs round up, warm-up from a ratio', () => {
  expect(planSteps(10, options)).toEqual({ microBatchesPerEpoch: 3, stepsPerEpoch: 2, totalSteps: 4 });
  expect(warmupStepsFromRatio(options.warmupRatio, 4)).toBe(1);
  expect(planSteps(10, { ...options, epochs: 1.5 }).totalSteps).toBe(3);
  expect(() => planSteps(0, options)).toThrow(/no examples/);
});

test('each epoch visits every example once in a fresh shuffled order; events follow the schedule', async () => {
  const data = new RowData();
  const events: StepEvent[] = [];
  const checkpoints: string[] = [];
  const t = trainer();
  await runLoop({
    steps: batchSteps(t, data, options, new LcgShuffler(7)),
    schedule: options,
    position: START,
    checkpointEverySteps: 3,
    hooks: {
      onStep: (e) => void events.push(e),
      onCheckpoint: (reason, p) =>
        void checkpoints.push(`${reason}@${t.state.step}:${p.epoch}/${p.microBatch}`),
      shouldStop: () => false,
    },
  });
  expect(data.seen.map((b) => b.length)).toEqual([4, 4, 2, 4, 4, 2]);
  const epoch1 = data.seen.slice(0, 3).flat();
  const epoch2 = data.seen.slice(3).flat();
  expect([...epoch1].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
  expect([...epoch2].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
  expect(epoch1).not.toEqual(epoch2);
  expect(events.map((e) => [e.epoch, e.step, e.totalSteps])).toEqual([
    [1, 1, 4],
    [1, 2, 4],
    [2, 3, 4],
    [2, 4, 4],
  ]);
  // linear with 1 warm-up step of 4: 0, then 1, 2/3, 1/3 of the base rate
  expect(events.map((e) => e.learningRate)).toEqual([0, 0.05, 0.05 * (2 / 3), 0.05 * (1 / 3)]);
  expect(events[0].tokensPerSecond).toBeGreaterThan(0);
  expect(checkpoints).toEqual(['interval@3:1/2', 'final@4:2/0']);
  await t.release();
});

test('a run stopped mid-epoch and resumed from its position and state matches the straight run exactly', async () => {
  const collect = async (t: Trainer, shuffler: LcgShuffler, position: LoopPosition, stopAt = Infinity) => {
    const losses: number[] = [];
    let saved: { position: LoopPosition; rng: number } | null = null;
    const o = { ...options, epochs: 3, gradientAccumulationSteps: 1 };
    await runLoop({
      steps: batchSteps(t, new RowData(), o, shuffler),
      schedule: o,
      position,
      checkpointEverySteps: 0,
      hooks: {
        onStep: (e) => void losses.push(e.loss),
        onCheckpoint: (_r, p) => void (saved = { position: structuredClone(p), rng: shuffler.state }),
        shouldStop: () => t.state.step >= stopAt,
      },
    });
    return { losses, saved: saved as { position: LoopPosition; rng: number } | null };
  };
  const straight = trainer();
  const all = await collect(straight, new LcgShuffler(1), START);
  expect(all.losses).toHaveLength(9);

  const first = trainer();
  const part1 = await collect(first, new LcgShuffler(1), START, 4); // stops inside epoch 2
  expect(part1.saved!.position).toMatchObject({ epoch: 1, microBatch: 1 });
  const resumed = trainer(TrainState.fromHost(first.state.step, await first.state.toHost()));
  const part2 = await collect(resumed, new LcgShuffler(part1.saved!.rng), part1.saved!.position);
  expect([...part1.losses, ...part2.losses]).toEqual(all.losses);
  await Promise.all([straight.release(), first.release(), resumed.release()]);
});
