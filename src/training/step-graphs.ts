/**
 * The training-step graphs the trainer runs, built around an Objective for one batch shape:
 *
 * - fused:     forward + loss + gradients + global-norm clip + AdamW in one graph (one micro-batch per step);
 * - gradients: forward + gradients of the loss *sum*, added onto gradient accumulators (accumulation);
 * - update:    accumulated gradients scaled by 1 / (total weight), then clip + AdamW.
 *
 * Trainable tensors and Adam moments are inputs, their updated values outputs (`<name>.next`, see
 * engine/optim stateNames); the learning rate and bias corrections come in as scalar feeds.
 */
import { gradients } from '../engine/autodiff';
import { layoutGraph } from '../engine/layout';
import { Graph, Tensor } from '../engine/graph';
import * as op from '../engine/ops';
import { AdamWConfig, appendAdamW } from '../engine/optim';
import { scaledGradients, withMatmulPrecision } from '../engine/precision';
import { MemoryLayout } from '../models/memory-layout';
import { Batch, NoiseInput, Objective, ObjectiveOutputs } from './objective';
import { isDecayed } from './weight-decay';

export interface OptimizerOptions {
  adamW: AdamWConfig;
  /** Global-norm clipping threshold; null disables clipping (the norm is still reported). */
  maxGradNorm: number | null;
  /** Decay every parameter instead of transformers' default (no biases, no norm weights). */
  weightDecayAll: boolean;
  /** AdamW over one flat buffer per decay group (engine/optim `flat`): fewer nodes, same numbers. */
  flatUpdate?: boolean;
  /** nn.linear through pre-transposed weights (Graph.pretransposeWeights): faster products on WebGPU. */
  pretransposeWeights?: boolean;
  /** float16 products (engine/precision) and gradients through the `loss_scale` feed. */
  mixedPrecision?: boolean;
  /** With mixedPrecision, where products compute: 'float16' (default) or 'float32' (Graph 'float16-storage'). */
  mixedPrecisionCompute?: 'float16' | 'float32';
  /** Fused forms (engine/fused; Graph.fuse, on by default); false builds the plain chains. */
  fuse?: boolean;
  /** q/k/v and gate/up as one product each (Graph.joinProjections; default 'free'). */
  joinProjections?: Graph['joinProjections'];
  /** bfloat16 frozen weights as they are or as float16 (Graph.halfWeights; default 'stored'). */
  halfWeights?: Graph['halfWeights'];
  /** Blocked attention, chunked loss, checkpointed layers (models/memory-layout; default the plain graph). */
  memoryLayout?: MemoryLayout;
}

/** The options that shape a step graph (the rest of OptimizerOptions shape its run). */
export type GraphOptions = Pick<
  OptimizerOptions,
  | 'pretransposeWeights'
  | 'mixedPrecision'
  | 'mixedPrecisionCompute'
  | 'memoryLayout'
  | 'fuse'
  | 'joinProjections'
  | 'halfWeights'
>;

/** Output names shared by the step graphs. */
export const OUT = {
  loss: 'loss',
  lossSum: 'loss_sum',
  weight: 'weight',
  gradNorm: 'grad_norm',
  metric: (name: string) => `metric.${name}`,
  gradAcc: (param: string) => `${param}.grad_acc`,
  gradAccNext: (param: string) => `${param}.grad_acc.next`,
} as const;

/** Feed of the update graph: 1 / (sum of the micro-batch weights of this optimizer step). */
export const GRAD_SCALE = 'grad_scale';

export interface StepGraph {
  graph: Graph;
  /** Trainable tensor names in graph order. */
  paramNames: string[];
  metricNames: string[];
  noise: readonly NoiseInput[];
}

/** Batch tensors as graph inputs of the same names. */
function batchInputs(g: Graph, batch: Batch): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(batch.tensors)) inputs[name] = g.input(name, t.shape, t.dtype);
  return inputs;
}

/** A scalar as float32 shape [] (objectives may produce [1] or int counts). */
function scalarF32(t: Tensor, what: string): Tensor {
  if (t.size !== 1) throw new Error(`objective ${what} must be a scalar, got ${t}`);
  const f = t.dtype === 'float32' ? t : op.cast(t, 'float32');
  return f.rank === 0 ? f : op.reshape(f, []);
}

function buildObjective(
  objective: Objective,
  batch: Batch,
  opts: GraphOptions,
): { g: Graph; out: ObjectiveOutputs } {
  const g = layoutGraph(opts);
  g.differentiated = true;
  const precision = !opts.mixedPrecision
    ? 'float32'
    : opts.mixedPrecisionCompute === 'float32'
      ? 'float16-storage'
      : 'float16';
  const out = withMatmulPrecision(g, precision, () =>
    objective.build(g, batchInputs(g, batch), opts.memoryLayout),
  );
  if (out.params.size === 0) throw new Error(`objective '${objective.name}' has no trainable tensors`);
  return { g, out };
}

/** Gradients of `loss`; under mixed precision through loss x the `loss_scale` feed (engine/precision). */
function gradientsFor(opts: GraphOptions, loss: Tensor, params: readonly Tensor[]): Tensor[] {
  return opts.mixedPrecision ? scaledGradients(loss, params) : gradients(loss, params);
}

/** One micro-batch per optimizer step: everything, AdamW included, in one graph. */
export function buildFusedStepGraph(objective: Objective, batch: Batch, opts: OptimizerOptions): StepGraph {
  const { g, out } = buildObjective(objective, batch, opts);
  // A count clamped to >= 1: a batch without any labelled item gives loss 0, not NaN weights.
  const weight = op.maximum(scalarF32(out.weight, 'weight'), 1);
  const loss = op.div(scalarF32(out.lossSum, 'lossSum'), weight);
  g.output(OUT.loss, loss);
  const metricNames = Object.keys(out.metricSums ?? {});
  for (const name of metricNames) {
    g.output(OUT.metric(name), op.div(scalarF32(out.metricSums![name], name), weight));
  }
  const names = [...out.params.keys()];
  const params = names.map((n) => out.params.get(n)!);
  const grads = gradientsFor(opts, loss, params);
  appendAdamW(
    params.map((param, i) => ({ param, grad: grads[i], decayed: isDecayed(names[i], opts.weightDecayAll) })),
    opts.adamW,
    opts.maxGradNorm,
    { flat: opts.flatUpdate },
  );
  return { graph: g, paramNames: names, metricNames, noise: out.noise ?? [] };
}

/** Gradients of the loss sum of one micro-batch, added onto `<name>.grad_acc` inputs. */
export function buildGradientGraph(objective: Objective, batch: Batch, opts: GraphOptions = {}): StepGraph {
  const { g, out } = buildObjective(objective, batch, opts);
  const lossSum = scalarF32(out.lossSum, 'lossSum');
  g.output(OUT.lossSum, lossSum);
  g.output(OUT.weight, scalarF32(out.weight, 'weight'));
  const metricNames = Object.keys(out.metricSums ?? {});
  for (const name of metricNames) g.output(OUT.metric(name), scalarF32(out.metricSums![name], name));
  const names = [...out.params.keys()];
  const params = names.map((n) => out.params.get(n)!);
  gradientsFor(opts, lossSum, params).forEach((grad, i) => {
    const acc = g.input(OUT.gradAcc(names[i]), grad.shape, grad.dtype);
    g.output(OUT.gradAccNext(names[i]), op.add(acc, grad));
  });
  return { graph: g, paramNames: names, metricNames, noise: out.noise ?? [] };
}

/** Clip + AdamW over accumulated gradients (inputs `<name>.grad_acc`) scaled by the GRAD_SCALE feed. */
export function buildUpdateGraph(
  params: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  opts: OptimizerOptions,
): StepGraph {
  const g = new Graph();
  const scale = g.input(GRAD_SCALE, [], 'float32');
  const trainables = params.map(({ name, shape }) => ({
    param: g.param(name, shape),
    grad: op.mul(g.input(OUT.gradAcc(name), shape, 'float32'), scale),
    decayed: isDecayed(name, opts.weightDecayAll),
  }));
  appendAdamW(trainables, opts.adamW, opts.maxGradNorm, { flat: opts.flatUpdate });
  return { graph: g, paramNames: params.map((p) => p.name), metricNames: [], noise: [] };
}

/** Cache key of a batch shape: tensor names, shapes and dtypes. */
export function batchSignature(batch: Batch): string {
  return Object.entries(batch.tensors)
    .map(([name, t]) => `${name}:${t.dtype}[${t.shape.join('x')}]`)
    .join(',');
}
