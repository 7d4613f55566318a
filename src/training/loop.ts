/**
 * The one loop of every run. A kind of method supplies a StepSource whose units of work are one optimizer step
 * over collated micro-batches (`batchSteps`, below) or one RL iteration of several steps (alignment/rl); the
 * loop around them is the same: the learning-rate schedule over all optimizer steps, progress events, validation
 * when due, checkpoints every `checkpointEverySteps`, at the end and on a stop request. Where the run stands
 * (epoch, units of it done, that epoch's order) is a LoopPosition that checkpoints save, so a resumed run does
 * exactly the work the straight run would have.
 */
import { ScheduleName, learningRate, warmupStepsFromRatio } from './schedules';
import { Batch } from './objective';
import { ProgressMeter, StepEvent } from './progress';
import type { TrainState } from './train-state';
import { StepResult, Trainer } from './trainer';

/** The examples of a run, turned into padded micro-batches on demand. */
export interface TrainingData {
  readonly size: number;
  batch(indices: readonly number[]): Batch;
}

/** A seeded source of permutations whose state can be saved and restored. */
export interface Shuffler {
  permutation(n: number): number[];
}

export interface LoopSchedule {
  lrScheduler: ScheduleName;
  learningRate: number;
  warmupRatio: number;
}

export interface LoopOptions extends LoopSchedule {
  epochs: number;
  batchSize: number;
  gradientAccumulationSteps: number;
  shuffle: boolean;
}

export interface LoopPosition {
  /** 0-based epoch in progress. */
  epoch: number;
  /** Units of that epoch already done: micro-batches consumed, or RL iterations. */
  microBatch: number;
  /** That epoch's example order; null before the epoch has drawn it. */
  order: number[] | null;
}

export const START: LoopPosition = { epoch: 0, microBatch: 0, order: null };

/** One unit of work: its optimizer steps, metrics every step of it reports, and where the run stands after it. */
export interface Unit {
  results: StepResult[];
  metrics: Record<string, number>;
  position: LoopPosition;
}

/** The work of a run, a unit at a time. */
export interface StepSource {
  readonly totalSteps: number;
  readonly stepsPerEpoch: number;
  /** The trained values and step count so far. */
  readonly state: TrainState;
  /** Do the unit after `position`, every step of it at learning rate `lr`. */
  next(position: LoopPosition, lr: number): Promise<Unit>;
}

/** Whether counting from `from` to `to` passes a multiple of `every` (never when `every` is 0). */
export const crosses = (from: number, to: number, every: number): boolean =>
  every > 0 && Math.floor(to / every) > Math.floor(from / every);

export interface LoopHooks {
  onStep(event: StepEvent): void | Promise<void>;
  /** Called after a unit when a checkpoint is due (`final`: the run ends, `stop`: a stop was requested). */
  onCheckpoint(reason: 'interval' | 'final' | 'stop', position: LoopPosition): void | Promise<void>;
  shouldStop(): boolean;
}

/** Measurements due after the steps from `from` to `state.step` (null when none is). */
export interface LoopValidation {
  after(from: number, state: TrainState): Promise<Record<string, number> | null>;
}

export interface LoopRun {
  steps: StepSource;
  schedule: LoopSchedule;
  /** Where to start (START or a checkpoint's position); the source's state.step must match it. */
  position: LoopPosition;
  checkpointEverySteps: number;
  /** Reported with the last step of the unit they follow. */
  validation?: LoopValidation | null;
  hooks: LoopHooks;
}

/** Run until the planned total or a stop request; returns the final position. */
export async function runLoop(run: LoopRun): Promise<LoopPosition> {
  const { steps, hooks } = run;
  const { totalSteps } = steps;
  const meter = new ProgressMeter(totalSteps);
  const schedule = {
    baseLr: run.schedule.learningRate,
    warmupSteps: warmupStepsFromRatio(run.schedule.warmupRatio, totalSteps),
    totalSteps,
  };
  let position = run.position;
  while (steps.state.step < totalSteps) {
    const from = steps.state.step;
    const lr = learningRate(run.schedule.lrScheduler, from, schedule);
    const unit = await steps.next(position, lr);
    const events = unit.results.map((result, k) =>
      meter.event({
        ...result,
        epoch: position.epoch + 1,
        step: from + k + 1,
        learningRate: lr,
        extra: { ...result.metrics, ...unit.metrics },
      }),
    );
    const measured = await run.validation?.after(from, steps.state);
    if (measured) {
      const last = events[events.length - 1];
      last.extra = { ...last.extra, ...measured };
    }
    for (const event of events) await hooks.onStep(event);
    position = unit.position;
    if (steps.state.step >= totalSteps) {
      await hooks.onCheckpoint('final', position);
    } else if (hooks.shouldStop()) {
      await hooks.onCheckpoint('stop', position);
      return position;
    } else if (crosses(from, steps.state.step, run.checkpointEverySteps)) {
      await hooks.onCheckpoint('interval', position);
    }
  }
  return position;
}

export interface StepPlan {
  microBatchesPerEpoch: number;
  stepsPerEpoch: number;
  totalSteps: number;
}

/** Steps of a run; the last step of an epoch takes the leftover micro-batches; fractional epochs round up. */
export function planSteps(examples: number, o: LoopOptions): StepPlan {
  if (examples === 0) throw new Error('the data set has no examples');
  const microBatchesPerEpoch = Math.ceil(examples / o.batchSize);
  const stepsPerEpoch = Math.ceil(microBatchesPerEpoch / o.gradientAccumulationSteps);
  return { microBatchesPerEpoch, stepsPerEpoch, totalSteps: Math.ceil(o.epochs * stepsPerEpoch) };
}

/**
 * Epochs over a data set, one optimizer step a unit: a seeded shuffle per epoch, micro-batches of `batchSize`
 * examples grouped into steps of `gradientAccumulationSteps`.
 */
export function batchSteps(
  trainer: Trainer,
  data: TrainingData,
  o: LoopOptions,
  shuffler: Shuffler,
): StepSource {
  const plan = planSteps(data.size, o);
  return {
    totalSteps: plan.totalSteps,
    stepsPerEpoch: plan.stepsPerEpoch,
    get state() {
      return trainer.state;
    },
    async next(position, lr) {
      const order =
        position.order ?? (o.shuffle ? shuffler.permutation(data.size) : [...Array(data.size).keys()]);
      const end = Math.min(position.microBatch + o.gradientAccumulationSteps, plan.microBatchesPerEpoch);
      const batches: Batch[] = [];
      for (let m = position.microBatch; m < end; m++) {
        batches.push(data.batch(order.slice(m * o.batchSize, (m + 1) * o.batchSize)));
      }
      const result = await trainer.step(batches, lr);
      const epochDone = end === plan.microBatchesPerEpoch;
      return {
        results: [result],
        metrics: {},
        position: epochDone
          ? { epoch: position.epoch + 1, microBatch: 0, order: null }
          : { epoch: position.epoch, microBatch: end, order },
      };
    },
  };
}
