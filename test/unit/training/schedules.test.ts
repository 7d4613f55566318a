import * as fs from 'node:fs';
import { learningRate, SCHEDULE_NAMES, warmupStepsFromRatio } from '../../../src/training/schedules';
import { hfTiny } from '../../helpers/fixtures';

const reference = JSON.parse(fs.readFileSync(hfTiny('reference.json'), 'utf8')).trajectories.lr_schedules as {
  base_lr: number;
  num_warmup_steps: number;
  num_training_steps: number;
  values_before_each_step: Record<string, number[]>;
};

describe('learningRate', () => {
  const options = {
    baseLr: reference.base_lr,
    warmupSteps: reference.num_warmup_steps,
    totalSteps: reference.num_training_steps,
  };

  it.each(Object.keys(reference.values_before_each_step))('%s matches transformers.get_scheduler', (name) => {
    const expected = reference.values_before_each_step[name];
    const numCycles = name === 'cosine_with_restarts' ? 2 : undefined;
    expect(expected).toHaveLength(100);
    expected.forEach((value, step) => {
      expect(Math.abs(learningRate(name, step, { ...options, numCycles }) - value)).toBeLessThanOrEqual(1e-9);
    });
  });

  it('scales by the base rate and covers every schedule the fixtures do not', () => {
    const o = { baseLr: 3e-4, warmupSteps: 4, totalSteps: 20 };
    expect(learningRate('constant', 0, o)).toBe(3e-4);
    expect(learningRate('constant', 19, o)).toBe(3e-4);
    expect(learningRate('linear', 2, o)).toBeCloseTo(1.5e-4, 15);
    expect(learningRate('linear', 12, o)).toBeCloseTo(1.5e-4, 15);
    expect(learningRate('linear', 25, o)).toBe(0);
    expect(learningRate('polynomial', 25, o)).toBeCloseTo(1e-7, 15);
    expect(learningRate('polynomial', 12, { ...o, power: 2 })).toBeCloseTo((3e-4 - 1e-7) * 0.25 + 1e-7, 15);
    // Without warm-up, inverse_sqrt uses a time scale of 10000 steps.
    expect(learningRate('inverse_sqrt', 10_000, { ...o, warmupSteps: 0 })).toBeCloseTo(3e-4 / Math.SQRT2, 15);
    expect([...SCHEDULE_NAMES].sort()).toEqual([
      'constant',
      'constant_with_warmup',
      'cosine',
      'cosine_with_restarts',
      'inverse_sqrt',
      'linear',
      'polynomial',
    ]);
  });

  it('rejects an unknown schedule and a polynomial rate below its end rate', () => {
    const o = { baseLr: 1e-8, warmupSteps: 0, totalSteps: 10 };
    expect(() => learningRate('cosine_decay', 0, o)).toThrow(/unknown schedule "cosine_decay"/);
    expect(() => learningRate('polynomial', 0, o)).toThrow(/must be above it/);
  });

  it('rounds a warm-up ratio up, as the transformers Trainer does', () => {
    expect(warmupStepsFromRatio(0.1, 100)).toBe(10);
    expect(warmupStepsFromRatio(0.03, 150)).toBe(5);
    expect(warmupStepsFromRatio(0.05, 7)).toBe(1);
    expect(warmupStepsFromRatio(0, 7)).toBe(0);
  });
});
