/**
 * Learning-rate schedules as pure functions of the step, exactly as `transformers.get_scheduler` builds them
 * (transformers/optimization.py): each is the base rate times a multiplier; `step` is the number of optimizer
 * steps already taken, so `learningRate(name, 0, ...)` is the rate used by the first update.
 */
import { UserInputError } from '../errors';

export const SCHEDULE_NAMES = [
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
  'constant',
  'constant_with_warmup',
  'inverse_sqrt',
] as const;
export type ScheduleName = (typeof SCHEDULE_NAMES)[number];

export interface ScheduleOptions {
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** cosine: waves over the decay (default 0.5, a half cosine); cosine_with_restarts: restarts (default 1). */
  numCycles?: number;
  /** polynomial: the power (default 1) and the final rate (default 1e-7, must be below baseLr). */
  power?: number;
  lrEnd?: number;
  /** inverse_sqrt: the time scale (default warmupSteps, or 10000 without warm-up). */
  timescale?: number;
}

type Multiplier = (step: number, o: ScheduleOptions) => number;

const warmup = (step: number, warmupSteps: number) => step / Math.max(1, warmupSteps);
const decayProgress = (step: number, o: ScheduleOptions) =>
  (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps);

const MULTIPLIERS: Record<ScheduleName, Multiplier> = {
  constant: () => 1,
  constant_with_warmup: (step, o) => (step < o.warmupSteps ? warmup(step, o.warmupSteps) : 1),
  linear: (step, o) =>
    step < o.warmupSteps
      ? warmup(step, o.warmupSteps)
      : Math.max(0, (o.totalSteps - step) / Math.max(1, o.totalSteps - o.warmupSteps)),
  cosine: (step, o) => {
    if (step < o.warmupSteps) return warmup(step, o.warmupSteps);
    const cycles = o.numCycles ?? 0.5;
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * decayProgress(step, o))));
  },
  cosine_with_restarts: (step, o) => {
    if (step < o.warmupSteps) return warmup(step, o.warmupSteps);
    const progress = decayProgress(step, o);
    if (progress >= 1) return 0;
    const cycles = o.numCycles ?? 1;
    // Python's % on non-negative floats, as torch computes it.
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * ((cycles * progress) % 1))));
  },
  polynomial: (step, o) => {
    const lrEnd = o.lrEnd ?? 1e-7;
    const power = o.power ?? 1;
    if (step < o.warmupSteps) return warmup(step, o.warmupSteps);
    if (step > o.totalSteps) return lrEnd / o.baseLr;
    const remaining = 1 - (step - o.warmupSteps) / (o.totalSteps - o.warmupSteps);
    return ((o.baseLr - lrEnd) * remaining ** power + lrEnd) / o.baseLr;
  },
  inverse_sqrt: (step, o) => {
    if (step < o.warmupSteps) return warmup(step, o.warmupSteps);
    const timescale = o.timescale ?? (o.warmupSteps || 10_000);
    return 1 / Math.sqrt((step + timescale - o.warmupSteps) / timescale);
  },
};

export function isScheduleName(name: string): name is ScheduleName {
  return (SCHEDULE_NAMES as readonly string[]).includes(name);
}

/** Check a schedule's name and options once, before training starts; errors point at the config field. */
export function validateSchedule(name: string, o: ScheduleOptions): ScheduleName {
  if (!isScheduleName(name)) {
    throw new UserInputError(
      `hyperparameters.lrScheduler: unknown schedule "${name}" (known: ${SCHEDULE_NAMES.join(', ')})`,
      ['hyperparameters', 'lrScheduler'],
    );
  }
  if (name === 'polynomial' && !(o.baseLr > (o.lrEnd ?? 1e-7))) {
    throw new UserInputError(
      `hyperparameters.learningRate: the polynomial schedule decays to ${o.lrEnd ?? 1e-7}, so the learning ` +
        `rate must be above it (got ${o.baseLr})`,
      ['hyperparameters', 'learningRate'],
    );
  }
  return name;
}

/** The learning rate for the update after `step` completed steps. */
export function learningRate(name: ScheduleName | string, step: number, o: ScheduleOptions): number {
  return o.baseLr * MULTIPLIERS[validateSchedule(name, o)](step, o);
}

/** Warm-up steps from a ratio of the total, rounded up as the transformers Trainer does. */
export function warmupStepsFromRatio(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}
