/**
 * Epochs over a data set: a seeded shuffle per epoch, micro-batches of `batchSize` examples grouped into
 * optimizer steps of `gradientAccumulationSteps`, the learning-rate schedule, progress events, checkpoints and
 * a stop request. Where the loop stands (epoch, micro-batch cursor, that epoch's order) is a LoopPosition that
 * checkpoints save, so a resumed run draws exactly the batches the straight run would have.
 */
import { ScheduleName, learningRate, warmupStepsFromRatio } from './schedules';
import { Batch } from './objective';
import { ProgressMeter, StepEvent } from './progress';
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

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  gradientAccumulationSteps: number;
  shuffle: boolean;
  lrScheduler: ScheduleName;
  learningRate: number;
  warmupRatio: number;
}

export interface LoopPosition {
  /** 0-based epoch in progress. */
  epoch: number;
  /** Micro-batches of that epoch already consumed. */
  microBatch: number;
  /** That epoch's example order; null before the epoch has drawn it. */
  order: number[] | null;
}

export const START: LoopPosition = { epoch: 0, microBatch: 0, order: null };

export interface StepPlan {
  microBatchesPerEpoch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
}

/** Steps of a run; the last step of an epoch takes the leftover micro-batches; fractional epochs round up. */
export function planSteps(examples: number, o: LoopOptions): StepPlan {
  if (examples === 0) throw new Error('the data set has no examples');
  const microBatchesPerEpoch = Math.ceil(examples / o.batchSize);
  const stepsPerEpoch = Math.ceil(microBatchesPerEpoch / o.gradientAccumulationSteps);
  const totalSteps = Math.ceil(o.epochs * stepsPerEpoch);
  return {
    microBatchesPerEpoch,
    stepsPerEpoch,
    totalSteps,
    warmupSteps: warmupStepsFromRatio(o.warmupRatio, totalSteps),
  };
}

export interface LoopHooks {
  onStep(event: StepEvent, result: StepResult): void | Promise<void>;
  /** Called after a step when a checkpoint is due (`final`: the run ends, `stop`: a stop was requested). */
  onCheckpoint(reason: 'interval' | 'final' | 'stop', position: LoopPosition): void | Promise<void>;
  shouldStop(): boolean;
}

export interface LoopRun {
  trainer: Trainer;
  data: TrainingData;
  options: LoopOptions;
  shuffler: Shuffler;
  /** Where to start (START or a checkpoint's position); the trainer's state.step must match it. */
  position: LoopPosition;
  checkpointEverySteps: number;
  hooks: LoopHooks;
}

/** Run until the planned total or a stop request; returns the final position. */
export async function runLoop(run: LoopRun): Promise<LoopPosition> {
  const { trainer, data, options, shuffler, hooks } = run;
  const plan = planSteps(data.size, options);
  const meter = new ProgressMeter(plan.totalSteps);
  let { epoch, microBatch, order } = run.position;
  const schedule = {
    baseLr: options.learningRate,
    warmupSteps: plan.warmupSteps,
    totalSteps: plan.totalSteps,
  };
  while (trainer.state.step < plan.totalSteps) {
    order ??= options.shuffle ? shuffler.permutation(data.size) : [...Array(data.size).keys()];
    const end = Math.min(microBatch + options.gradientAccumulationSteps, plan.microBatchesPerEpoch);
    const batches: Batch[] = [];
    for (let m = microBatch; m < end; m++) {
      batches.push(data.batch(order.slice(m * options.batchSize, (m + 1) * options.batchSize)));
    }
    const lr = learningRate(options.lrScheduler, trainer.state.step, schedule);
    const result = await trainer.step(batches, lr);
    const stepEpoch = epoch;
    [epoch, microBatch] = end === plan.microBatchesPerEpoch ? [epoch + 1, 0] : [epoch, end];
    if (microBatch === 0) order = null;
    const event = meter.event({
      ...result,
      epoch: stepEpoch + 1,
      step: trainer.state.step,
      learningRate: lr,
      extra: result.metrics,
    });
    await hooks.onStep(event, result);
    const position = { epoch, microBatch, order };
    if (trainer.state.step >= plan.totalSteps) {
      await hooks.onCheckpoint('final', position);
    } else if (hooks.shouldStop()) {
      await hooks.onCheckpoint('stop', position);
      return position;
    } else if (run.checkpointEverySteps > 0 && trainer.state.step % run.checkpointEverySteps === 0) {
      await hooks.onCheckpoint('interval', position);
    }
  }
  return { epoch, microBatch, order };
}
