/**
 * The optimizer-step engine: given micro-batches and a learning rate, runs one AdamW step of an Objective on
 * onnxruntime and advances the TrainState. Sessions are cached per batch shape (callers bucket sequence lengths
 * so few shapes occur) and share one float32 copy of 16-bit frozen weights (engine/float-weights). One
 * micro-batch runs the fused graph; several accumulate gradients first.
 * Epochs, shuffling, schedules and checkpoints live in loop.ts.
 */
import * as ort from 'onnxruntime-node';
import { WEBGPU_GRAPH_LAYOUT } from '../engine/layout';
import { adamWFeeds, stateNames } from '../engine/optim';
import { DynamicLossScaler, LOSS_SCALE, LossScalerOptions } from '../engine/precision';
import { FloatWeights } from '../engine/float-weights';
import { ExecutionProvider, Feed, Session, SessionOptions, createSession } from '../engine/session';
import { float32Tensor, ortTensor } from './ort-tensors';
import { Batch, NoiseInput, Objective } from './objective';
import {
  GRAD_SCALE,
  OUT,
  OptimizerOptions,
  StepGraph,
  batchSignature,
  buildFusedStepGraph,
  buildGradientGraph,
  buildUpdateGraph,
} from './step-graphs';
import { providerBatch } from './int32-batch';
import { TrainState, readScalar } from './train-state';

export interface TrainerOptions extends OptimizerOptions {
  executionProvider?: ExecutionProvider;
  /** CPU intra-op threads. */
  threads?: number;
  /** Keep trainable tensors and moments on the device between steps (default: on for webgpu). */
  stateOnDevice?: boolean;
  /** Initial loss scale etc. of mixed-precision runs (default: torch's GradScaler). */
  lossScaling?: LossScalerOptions;
  /** Provider and onnxruntime options for the step sessions (e.g. WebGPU validation, profiling). */
  session?: Pick<SessionOptions, 'providerOptions' | 'ortOptions'>;
  /**
   * The float32 copy of 16-bit frozen weights the CPU step sessions share (one per batch shape otherwise); give
   * the run's evaluator the same one. Default: the trainer's own.
   */
  floatWeights?: FloatWeights;
  /** Uniform [0, 1) numbers for noise inputs such as dropout masks (a seeded, saveable RNG). */
  random: () => number;
}

/**
 * The step-graph layout the trainer builds on webgpu, where every node is a dispatch the host records and Gemm
 * with transB is slow: AdamW over stacked groups, and the provider's graph layout (engine/layout, docs/gpu.md).
 */
export const WEBGPU_LAYOUT = { flatUpdate: true, ...WEBGPU_GRAPH_LAYOUT } as const;

export interface StepResult {
  /** Loss of the step's batch measured before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  metrics: Record<string, number>;
  tokens: number;
  examples: number;
  /** Seconds of this step spent building graphs and creating sessions (first use of a batch shape). */
  compileSeconds: number;
  /** The same in parts: building the step graph (autodiff included), emitting it, onnxruntime's session. */
  compileParts: CompileParts;
}

export interface CompileParts {
  graph: number;
  emit: number;
  session: number;
}

const NO_COMPILE: CompileParts = { graph: 0, emit: 0, session: 0 };

type StepOutputs = Omit<StepResult, 'tokens' | 'examples' | 'compileSeconds' | 'compileParts'>;

interface Compiled {
  session: Session;
  step: StepGraph;
}

export class Trainer {
  private readonly sessions = new Map<string, Promise<Compiled>>();
  private zeroGrads: Map<string, ort.Tensor> | null = null;
  /** Compile time since the last step returned. */
  private compileParts = NO_COMPILE;

  private readonly opts: TrainerOptions;
  /** Mixed precision only: moves the loss scale like GradScaler (state mirrored into `state.lossScaler`). */
  private readonly scaler: DynamicLossScaler | null;

  constructor(
    readonly objective: Objective,
    readonly state: TrainState,
    opts: TrainerOptions,
  ) {
    // On WebGPU: the WEBGPU_LAYOUT graphs, and the weights and moments kept on the device between steps (host
    // round trips cost 10x on the H100), unless told otherwise. The 'gpu-buffer' output location is WebGPU's in
    // onnxruntime-node, so CUDA keeps host state until it is measured there.
    const webgpu = opts.executionProvider === 'webgpu';
    this.opts = {
      ...opts,
      flatUpdate: opts.flatUpdate ?? (webgpu && WEBGPU_LAYOUT.flatUpdate),
      pretransposeWeights: opts.pretransposeWeights ?? (webgpu && WEBGPU_LAYOUT.pretransposeWeights),
      joinProjections: opts.joinProjections ?? (webgpu ? WEBGPU_LAYOUT.joinProjections : undefined),
      halfWeights: opts.halfWeights ?? (webgpu ? WEBGPU_LAYOUT.halfWeights : undefined),
      stateOnDevice: opts.stateOnDevice ?? webgpu,
      floatWeights: opts.floatWeights ?? new FloatWeights(),
    };
    this.scaler = opts.mixedPrecision
      ? new DynamicLossScaler(opts.lossScaling, state.lossScaler ?? undefined)
      : null;
  }

  /** One optimizer step over `microBatches` (gradients accumulated when there are several). */
  async step(microBatches: readonly Batch[], learningRate: number): Promise<StepResult> {
    if (microBatches.length === 0) throw new Error('Trainer.step: no micro-batches');
    // WebGPU: int32 ids, masks and labels keep every node of the step on the device (see int32-batch.ts).
    const batches = microBatches.map((b) => providerBatch(b, this.opts.executionProvider));
    const tokens = batches.reduce((s, b) => s + b.tokens, 0);
    const examples = batches.reduce((s, b) => s + b.examples, 0);
    // Under mixed precision an overflowed step (non-finite gradient norm) keeps the old state, halves the loss
    // scale and runs the same batch again: every step updates, so step counts stay those of a float32 run.
    let result: StepOutputs | null = null;
    while (!result) {
      result =
        batches.length === 1
          ? await this.fusedStep(batches[0], learningRate)
          : await this.accumulatedStep(batches, learningRate);
      if (!result && this.scaler!.scale < 1) {
        throw new Error('mixed precision: the gradients stay non-finite at loss scale 1 (training diverged)');
      }
    }
    if (this.scaler) this.state.lossScaler = this.scaler.toJSON();
    this.state.step += 1;
    const compileParts = this.compileParts;
    this.compileParts = NO_COMPILE;
    const compileSeconds = compileParts.graph + compileParts.emit + compileParts.session;
    return { ...result, tokens, examples, compileSeconds, compileParts };
  }

  /** Number of distinct compiled graphs (for tests and diagnostics). */
  get compiledGraphs(): number {
    return this.sessions.size;
  }

  async release(): Promise<void> {
    const all = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((c) => c.session.release()));
  }

  private async fusedStep(batch: Batch, lr: number): Promise<StepOutputs | null> {
    const { session, step } = await this.compiled(`fused|${batchSignature(batch)}`, () =>
      buildFusedStepGraph(this.objective, batch, this.opts),
    );
    const out = await session.run({
      ...this.batchFeeds(session, batch, step.noise),
      ...this.stateFeeds(step.paramNames),
      ...this.optimizerFeeds(session, lr),
    });
    const gradNorm = await readScalar(out[OUT.gradNorm]);
    if (!this.accepts(gradNorm, out)) return null;
    this.takeState(step.paramNames, out);
    const metrics: Record<string, number> = {};
    for (const m of step.metricNames) metrics[m] = await readScalar(out[OUT.metric(m)]);
    return { loss: await readScalar(out[OUT.loss]), gradNorm, metrics };
  }

  /** Whether a step's outputs are kept: always in float32; under mixed precision when the norm is finite. */
  private accepts(gradNorm: number, out: Record<string, ort.Tensor>): boolean {
    if (!this.scaler || this.scaler.update(gradNorm)) return true;
    releaseDevice(Object.values(out));
    return false;
  }

  private async accumulatedStep(batches: readonly Batch[], lr: number): Promise<StepOutputs | null> {
    let acc: Map<string, ort.Tensor> | null = null;
    let lossSum = 0;
    let weight = 0;
    const metricSums: Record<string, number> = {};
    let paramNames: string[] = [];
    for (const batch of batches) {
      const { session, step } = await this.compiled(`grad|${batchSignature(batch)}`, () =>
        buildGradientGraph(this.objective, batch, this.opts),
      );
      paramNames = step.paramNames;
      const current = acc ?? this.zeros(step.paramNames);
      const feeds: Record<string, Feed> = this.batchFeeds(session, batch, step.noise);
      for (const name of step.paramNames) {
        feeds[name] = this.param(name).value;
        feeds[OUT.gradAcc(name)] = current.get(name)!;
      }
      const out = await session.run(feeds);
      if (acc) releaseDevice([...acc.values()]);
      acc = new Map(step.paramNames.map((n) => [n, out[OUT.gradAccNext(n)]]));
      lossSum += await readScalar(out[OUT.lossSum]);
      weight += await readScalar(out[OUT.weight]);
      for (const m of step.metricNames)
        metricSums[m] = (metricSums[m] ?? 0) + (await readScalar(out[OUT.metric(m)]));
    }
    const scale = 1 / Math.max(weight, 1);
    const { session } = await this.compiled('update', () =>
      buildUpdateGraph(
        paramNames.map((name) => ({ name, shape: this.param(name).value.dims })),
        this.opts,
      ),
    );
    const feeds: Record<string, Feed> = {
      ...this.stateFeeds(paramNames),
      ...this.optimizerFeeds(session, lr),
      [GRAD_SCALE]: float32Tensor(new Float32Array([scale]), []),
    };
    for (const name of paramNames) feeds[OUT.gradAcc(name)] = acc!.get(name)!;
    const out = await session.run(feeds);
    releaseDevice([...acc!.values()]);
    const gradNorm = await readScalar(out[OUT.gradNorm]);
    if (!this.accepts(gradNorm, out)) return null;
    this.takeState(paramNames, out);
    const metrics = Object.fromEntries(Object.entries(metricSums).map(([k, v]) => [k, v * scale]));
    return { loss: lossSum * scale, gradNorm, metrics };
  }

  private compiled(key: string, build: () => StepGraph): Promise<Compiled> {
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = (async () => {
        const start = performance.now();
        const step = build();
        const graph = (performance.now() - start) / 1000;
        this.checkParams(step.paramNames);
        const session = await createSession(step.graph, {
          executionProvider: this.opts.executionProvider ?? 'cpu',
          threads: this.opts.threads,
          preferredOutputLocation: this.opts.stateOnDevice ? this.deviceOutputs(step) : undefined,
          floatWeights: this.opts.floatWeights,
          ...this.opts.session,
        });
        const { emit, session: created } = session.creationSeconds;
        const sum = this.compileParts;
        this.compileParts = {
          graph: sum.graph + graph,
          emit: sum.emit + emit,
          session: sum.session + created,
        };
        return { session, step };
      })();
      this.sessions.set(key, entry);
      entry.catch(() => this.sessions.delete(key));
    }
    return entry;
  }

  /** The step graph's state outputs (next values, moments, gradient accumulators), kept on the device. */
  private deviceOutputs(step: StepGraph): Record<string, ort.Tensor.DataLocation> {
    const out: Record<string, ort.Tensor.DataLocation> = {};
    for (const name of step.paramNames) {
      const n = stateNames(name);
      for (const o of [n.param, n.expAvg, n.expAvgSq, OUT.gradAccNext(name)]) {
        if (step.graph.outputs.has(o)) out[o] = 'gpu-buffer';
      }
    }
    return out;
  }

  private checkParams(names: readonly string[]): void {
    const missing = names.filter((n) => !this.state.params.has(n));
    if (missing.length || names.length !== this.state.params.size) {
      const extra = [...this.state.params.keys()].filter((n) => !names.includes(n));
      throw new Error(
        `objective '${this.objective.name}' trains [${missing.join(', ')}] not in the train state` +
          (extra.length ? `; the state has [${extra.join(', ')}] the objective does not train` : ''),
      );
    }
  }

  private param(name: string) {
    const p = this.state.params.get(name);
    if (!p) throw new Error(`no train state for '${name}'`);
    return p;
  }

  /** AdamW's step scalars the graph reads (without weight decay it has no decay factor). */
  private optimizerFeeds(session: Session, lr: number): Record<string, Feed> {
    const all = adamWFeeds(this.state.step + 1, lr, this.opts.adamW);
    return Object.fromEntries(Object.entries(all).filter(([name]) => session.inputNames.includes(name)));
  }

  /** Batch tensors the graph reads (an objective may leave some unused, e.g. a mask), the loss scale and fresh
   * noise. */
  private batchFeeds(session: Session, batch: Batch, noise: readonly NoiseInput[]): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    for (const [name, t] of Object.entries(batch.tensors)) {
      if (session.inputNames.includes(name)) feeds[name] = ortTensor(t.data, t.shape, t.dtype);
    }
    if (this.scaler && session.inputNames.includes(LOSS_SCALE)) {
      feeds[LOSS_SCALE] = float32Tensor(new Float32Array([this.scaler.scale]), []);
    }
    for (const n of noise) {
      if (session.inputNames.includes(n.input.name)) {
        feeds[n.input.name] = float32Tensor(this.dropoutMask(n), n.input.shape);
      }
    }
    return feeds;
  }

  /** Inverted-dropout keep mask: 1 / (1 - p) with probability 1 - p, else 0. */
  private dropoutMask(n: NoiseInput): Float32Array {
    const mask = new Float32Array(n.input.size);
    const keep = 1 - n.p;
    for (let i = 0; i < mask.length; i++) mask[i] = this.opts.random() < keep ? 1 / keep : 0;
    return mask;
  }

  private stateFeeds(paramNames: readonly string[]): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    for (const name of paramNames) {
      const s = this.param(name);
      const n = stateNames(name);
      feeds[name] = s.value;
      feeds[n.expAvgIn] = s.expAvg;
      feeds[n.expAvgSqIn] = s.expAvgSq;
    }
    return feeds;
  }

  private takeState(paramNames: readonly string[], out: Record<string, ort.Tensor>): void {
    for (const name of paramNames) {
      const n = stateNames(name);
      const old = this.state.params.get(name);
      this.state.params.set(name, { value: out[n.param], expAvg: out[n.expAvg], expAvgSq: out[n.expAvgSq] });
      if (old) releaseDevice([old.value, old.expAvg, old.expAvgSq]);
    }
  }

  private zeros(paramNames: readonly string[]): Map<string, ort.Tensor> {
    if (!this.zeroGrads) {
      this.zeroGrads = new Map(
        paramNames.map((n) => {
          const dims = this.param(n).value.dims;
          return [n, float32Tensor(new Float32Array(this.param(n).value.size), dims)];
        }),
      );
    }
    return this.zeroGrads;
  }
}

/**
 * Free device-resident tensors that are no longer fed (replaced state, used accumulators): onnxruntime-node keeps a
 * 'gpu-buffer' output's memory until it is disposed, so without this every step would leak the whole state.
 */
function releaseDevice(tensors: readonly ort.Tensor[]): void {
  for (const t of tensors) if (t.location === 'gpu-buffer') t.dispose();
}
