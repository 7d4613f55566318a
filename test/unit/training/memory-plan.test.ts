import * as os from 'node:os';
import {
  arenaFits,
  GIB,
  LAYOUTS,
  MemoryJob,
  deviceMemoryBudget,
  estimatePeak,
  jobBudget,
  memoryBudget,
  memoryJob,
  planMemory,
} from '../../../src/training/memory-plan';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { UserInputError } from '../../../src/errors';
import { QWEN2_0_5B } from '../../helpers/model-shapes';

/** Qwen2-0.5B's shape, LoRA on q/v, one sample. */
const SHAPE = QWEN2_0_5B;
const job = (sequenceLength: number, over: Partial<MemoryJob> = {}): MemoryJob => ({
  ...memoryJob(SHAPE, 630e6, {
    method: 'SFT',
    scale: 'lora',
    hp: parseHyperparameters({ batchSize: 1, maxSequenceLength: sequenceLength }),
    maxPositions: 32_768,
  }),
  ...over,
});

test('the estimate grows with the sequence length and the batch under every layout', () => {
  for (const layout of LAYOUTS) {
    let last = 0;
    for (const t of [128, 512, 1024, 2048, 4096]) {
      const e = estimatePeak(job(t), layout).totalBytes;
      expect(e).toBeGreaterThan(last);
      last = e;
    }
    expect(estimatePeak(job(1024, { batchSize: 4 }), layout).totalBytes).toBeGreaterThan(
      estimatePeak(job(1024), layout).totalBytes,
    );
  }
});

test('each layout of the list needs no more than the one before it', () => {
  for (const t of [512, 4096]) {
    const peaks = LAYOUTS.map((l) => estimatePeak(job(t), l).totalBytes);
    peaks.slice(1).forEach((p, i) => expect(p).toBeLessThanOrEqual(peaks[i]));
  }
});

test('the plan takes the first layout that fits the budget, and it fits', () => {
  for (const budget of [8, 10, 12, 16, 64].map((g) => g * GIB)) {
    for (const t of [512, 2048, 4096]) {
      let plan;
      try {
        plan = planMemory(job(t), budget);
      } catch {
        continue;
      }
      expect(plan.estimate.totalBytes).toBeLessThanOrEqual(budget);
      const i = LAYOUTS.indexOf(plan.layout);
      LAYOUTS.slice(0, i).forEach((l) => expect(estimatePeak(job(t), l).totalBytes).toBeGreaterThan(budget));
    }
  }
  expect(planMemory(job(512), 64 * GIB).layout).toEqual({});
});

test("the arena is kept where one step's transient tensors more still fit the budget", () => {
  const plan = planMemory(job(512), 64 * GIB);
  const { activations, attention, logits } = plan.estimate.parts;
  const transient = activations + attention + logits;
  expect(transient).toBeGreaterThan(0);
  expect(arenaFits(plan)).toBe(true);
  expect(arenaFits({ ...plan, budgetBytes: plan.estimate.totalBytes + transient })).toBe(true);
  expect(arenaFits({ ...plan, budgetBytes: plan.estimate.totalBytes + transient - 1 })).toBe(false);
});

test('a job that fits nowhere is refused with its estimate, the budget and what to change', () => {
  const big = job(4096, { batchSize: 8 });
  let err: unknown;
  try {
    planMemory(big, 12 * GIB);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserInputError);
  const u = err as UserInputError;
  expect(u.code).toBe('MEMORY_BUDGET_EXCEEDED');
  const estimate = estimatePeak(big, LAYOUTS[LAYOUTS.length - 1]).totalBytes;
  expect(u.message).toContain(`${(estimate / GIB).toFixed(1)} GiB`);
  expect(u.message).toContain('budget of 12.0 GiB');
  const batch = Number(/batchSize (\d+)/.exec(u.message)?.[1]);
  expect(batch).toBeGreaterThanOrEqual(1);
  expect(() => planMemory({ ...big, batchSize: batch }, 12 * GIB)).not.toThrow();
  expect(() => planMemory({ ...big, batchSize: batch + 1 }, 12 * GIB)).toThrow(UserInputError);
  // Below the weights themselves, nothing fits.
  expect(() => planMemory(job(16), 1 * GIB)).toThrow(/no batch size or sequence length fits/);
});

test('the budget comes from WHETSTONE_MEMORY_BUDGET, else from the memory available', () => {
  expect(memoryBudget({ WHETSTONE_MEMORY_BUDGET: '8GiB' })).toBe(8 * GIB);
  expect(memoryBudget({ WHETSTONE_MEMORY_BUDGET: '512m' })).toBe(512 * 2 ** 20);
  expect(memoryBudget({ WHETSTONE_MEMORY_BUDGET: '1000000' })).toBe(1e6);
  expect(() => memoryBudget({ WHETSTONE_MEMORY_BUDGET: 'lots' })).toThrow(/WHETSTONE_MEMORY_BUDGET=lots/);
  const available = memoryBudget({});
  expect(available).toBeGreaterThan(0);
  expect(available).toBeLessThan(os.totalmem());
});

test('a bfloat16 checkpoint counts 2 bytes per frozen weight with checkpointed layers, 4 without', () => {
  const half = (t: number) => job(t, { shape: { ...SHAPE, weightBytes: 2 } });
  const frozen = half(512).parameters - half(512).trainableParameters;
  const head = SHAPE.vocabSize * SHAPE.hiddenSize * 4;
  const checkpointed = { checkpointLayers: true };
  expect(
    estimatePeak(job(512), checkpointed).parts.weights - estimatePeak(half(512), checkpointed).parts.weights,
  ).toBe(frozen * 2 - head);
  expect(estimatePeak(half(512)).parts.weights).toBe(estimatePeak(job(512)).parts.weights);
  const declared = memoryJob({ ...SHAPE, raw: { torch_dtype: 'bfloat16' } }, 630e6, {
    method: 'SFT',
    scale: 'lora',
    hp: parseHyperparameters({}),
    maxPositions: 32_768,
  });
  expect(declared.shape.weightBytes).toBe(2);
});

test('on a GPU provider the plan fits the device: WHETSTONE_GPU_MEMORY, else 90% of the free GPU memory', () => {
  const env = { WHETSTONE_MEMORY_BUDGET: '64GiB' };
  expect(deviceMemoryBudget({ WHETSTONE_GPU_MEMORY: '24GiB' }, () => 80 * GIB)).toEqual({
    bytes: 24 * GIB,
    what: 'the device memory of WHETSTONE_GPU_MEMORY',
  });
  expect(deviceMemoryBudget({}, () => 10 * GIB)?.bytes).toBe(9 * GIB);
  expect(deviceMemoryBudget({}, () => null)).toBeNull();
  expect(() => deviceMemoryBudget({ WHETSTONE_GPU_MEMORY: 'big' })).toThrow(/WHETSTONE_GPU_MEMORY=big/);
  // The lower of the two limits; the CPU asks no GPU.
  const free = jest.fn(() => 10 * GIB);
  expect(jobBudget('cpu', env, free)).toEqual({ bytes: 64 * GIB, what: "the worker's budget" });
  expect(free).not.toHaveBeenCalled();
  expect(jobBudget('webgpu', env, free).bytes).toBe(9 * GIB);
  expect(jobBudget('webgpu', env, () => null).bytes).toBe(64 * GIB);
  expect(jobBudget('cuda', { ...env, WHETSTONE_GPU_MEMORY: '100GiB' }, free).bytes).toBe(64 * GIB);

  // A job that fits the host but not the device fails before training, with the estimate and the device's limit.
  const big = job(4096, { batchSize: 8 });
  const budget = jobBudget('webgpu', { ...env, WHETSTONE_GPU_MEMORY: '6GiB' });
  expect(() => planMemory(big, 64 * GIB)).not.toThrow();
  let refusal: unknown;
  try {
    planMemory(big, budget);
  } catch (err) {
    refusal = err;
  }
  expect(refusal).toBeInstanceOf(UserInputError);
  const u = refusal as UserInputError;
  expect(u.code).toBe('MEMORY_BUDGET_EXCEEDED');
  expect(u.message).toMatch(
    /needs an estimated [\d.]+ GiB .* than the device memory of WHETSTONE_GPU_MEMORY \(webgpu\) of 6\.0 GiB/,
  );
});
