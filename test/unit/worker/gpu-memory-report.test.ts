import type { StepEvent } from '../../../src/training/run-job';
import { GPU_MEMORY_KEY, gpuMemoryReporter } from '../../../src/worker/training/gpu-memory-report';

const step = (n: number): StepEvent =>
  ({ step: n, totalSteps: 10, loss: 1, extra: { accuracy: 0.5 } }) as unknown as StepEvent;

test('on a GPU provider steps carry the reading, taken at most every interval; on the CPU none', () => {
  let clock = 0;
  const readings = [100, 200];
  const read = jest.fn(() => readings.shift() ?? null);
  const report = gpuMemoryReporter('webgpu', read, 5000, () => clock);
  expect(report(step(1)).extra).toEqual({ accuracy: 0.5, [GPU_MEMORY_KEY]: 100 });
  clock = 4999;
  expect(report(step(2)).extra?.[GPU_MEMORY_KEY]).toBe(100);
  clock = 5000;
  expect(report(step(3)).extra?.[GPU_MEMORY_KEY]).toBe(200);
  expect(read).toHaveBeenCalledTimes(2);
  clock = 10_000; // nothing readable: the step as it is
  expect(report(step(4))).toEqual(step(4));

  const cpuRead = jest.fn(() => 1);
  expect(gpuMemoryReporter('cpu', cpuRead)(step(1))).toEqual(step(1));
  expect(cpuRead).not.toHaveBeenCalled();
});
