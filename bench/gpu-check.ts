/**
 * The GPU check (issue 6), run on a GPU machine by scripts/gpu/check.sh from the bundle scripts/gpu/bundle.sh
 * makes; also runs anywhere onnxruntime-node's WebGPU provider finds an adapter (lavapipe on a CPU: slow).
 *
 *   node dist/bench/gpu-check.js --fixtures <hf-tiny> --peer <torch_peer.py> --out <dir> [--deadline-s 540]
 *
 * Sections, in order of importance, each in its own child process with a time limit (a crash or a hung device
 * loses one section, not the run); results are rewritten to <out>/gpu-check.json after each:
 *   1. kernels:      the WebGPU kernel table measured on this adapter against src/engine/webgpu-kernels.ts;
 *   2. trajectories: the hf-tiny full and LoRA trajectories on webgpu (state on the device) and on the CPU,
 *                    losses compared with each other (1e-3 relative) and with PyTorch's reference.json;
 *   3. placement:    where onnxruntime put the nodes of those two training-step graphs, next to the static check;
 *   4. throughput:   training tokens/s of the bench model (hidden 256, 4 layers, vocabulary 8192, batch 8 x 128:
 *                    full and LoRA r 8 q/v) and a larger one (hidden 512, 8 layers, 8 heads, batch 16 x 256), full,
 *                    on webgpu with the state on the device, each next to torch_peer.py --device cuda (fp32);
 *                    then, time allowing, the bench model with host round trips and on the CPU provider.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { describeFallbacks, fallbackNodes, runtimeFallbacks } from '../src/engine/placement';
import { Graph } from '../src/engine/graph';
import * as op from '../src/engine/ops';
import { ExecutionProvider, createSession } from '../src/engine/session';
import { WEBGPU_KERNELS } from '../src/engine/webgpu-kernels';
import { DemoModelOptions, writeDemoModel } from '../src/models/demo';
import { loadModel } from '../src/models/model';
import { SafetensorsReader } from '../src/models/safetensors';
import { parseHyperparameters } from '../src/training/hyperparameters';
import { int32Batch } from '../src/training/int32-batch';
import { Batch } from '../src/training/objective';
import { parameterize } from '../src/training/parameterization';
import { Rng } from '../src/util/rng';
import { SftObjective } from '../src/training/sft';
import { buildFusedStepGraph } from '../src/training/step-graphs';
import { TrainState } from '../src/training/train-state';
import { Trainer, TrainerOptions } from '../src/training/trainer';
import { diffTables, probeKernels } from '../scripts/gpu/probe-kernels';
import { BENCH_MODEL, LARGE_MODEL, benchParameters, randomBatch } from './bench-model';
import { runPeer } from './peer';

interface Paths {
  fixtures: string;
  peer: string;
}

// ---- 1. kernel table ----

async function kernels(): Promise<unknown> {
  const { table } = await probeKernels();
  const differences = diffTables(table, WEBGPU_KERNELS);
  return { matchesCommittedTable: differences.length === 0, differences };
}

// ---- 2. trajectories ----

/** hf-tiny's SFT batch (4 x 48, int64) as the trainer takes it. */
function sftBatch(fixtures: string): Batch {
  const r = SafetensorsReader.open(path.join(fixtures, 'sft_batch.safetensors'));
  const tensor = (name: string) => ({
    data: BigInt64Array.from(r.integers(name), BigInt),
    shape: r.entry(name).shape,
    dtype: 'int64' as const,
  });
  return {
    tensors: {
      input_ids: tensor('input_ids'),
      attention_mask: tensor('attention_mask'),
      labels: tensor('labels'),
    },
    tokens: r.integers('attention_mask').reduce((a, b) => a + b, 0),
    examples: r.entry('input_ids').shape[0],
  };
}

type Scale = 'full' | 'lora';

/** Objective and state of an hf-tiny trajectory (reference.json's settings). */
async function tinySetup(fixtures: string, scale: Scale) {
  const reference = JSON.parse(fs.readFileSync(path.join(fixtures, 'reference.json'), 'utf8'));
  const t = reference.trajectories[scale] as {
    lr: number;
    weight_decay: number;
    steps: number;
    losses: number[];
  };
  const model = await loadModel(path.join(fixtures, 'llama-tiny'));
  const params = parameterize(model, {
    scale,
    hyperparameters: parseHyperparameters({ weightDecay: t.weight_decay, weightDecayAll: true }),
    adapterDir: scale === 'lora' ? path.join(fixtures, 'lora_init') : null,
    rng: Rng.fromSeed(0),
  });
  const optimizer = {
    adamW: { ...ADAMW_DEFAULTS, weightDecay: t.weight_decay },
    maxGradNorm: 1,
    weightDecayAll: true,
  };
  return {
    t,
    objective: new SftObjective(params.forward, params.initial),
    initial: params.initial,
    optimizer,
  };
}

async function trajectory(fixtures: string, scale: Scale, ep: ExecutionProvider, mixedPrecision = false) {
  const { t, objective, initial, optimizer } = await tinySetup(fixtures, scale);
  const trainer = new Trainer(objective, TrainState.initial(initial), {
    ...optimizer,
    mixedPrecision,
    executionProvider: ep,
    stateOnDevice: ep !== 'cpu',
    threads: ep === 'cpu' ? 4 : undefined,
    random: Math.random,
  });
  const batch = sftBatch(fixtures);
  const losses: number[] = [];
  const gradNorms: number[] = [];
  const start = performance.now();
  for (let i = 0; i < t.steps; i++) {
    const r = await trainer.step([batch], t.lr);
    losses.push(r.loss);
    gradNorms.push(r.gradNorm);
  }
  const seconds = (performance.now() - start) / 1000;
  const locations = [...trainer.state.params.values()].map((p) => p.value.location);
  await trainer.release();
  return { losses, gradNorms, seconds, stateLocations: [...new Set(locations)], torch: t.losses };
}

const maxRel = (a: readonly number[], b: readonly number[]) =>
  Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));

/** webgpu (float32, or mixed precision) against the CPU's float32 run: losses within 1e-3 (mixed: 1e-2). */
async function trajectories(p: Paths, scale: Scale, mixed = false): Promise<unknown> {
  const gpu = await trajectory(p.fixtures, scale, 'webgpu', mixed);
  const cpu = await trajectory(p.fixtures, scale, 'cpu');
  const vsCpu = maxRel(gpu.losses, cpu.losses);
  return {
    webgpu: gpu,
    cpu,
    maxRelLossWebgpuVsCpu: vsCpu,
    maxRelLossWebgpuVsTorch: maxRel(gpu.losses, gpu.torch),
    maxRelGradNormWebgpuVsCpu: maxRel(gpu.gradNorms, cpu.gradNorms),
    pass: vsCpu < (mixed ? 1e-2 : 1e-3),
  };
}

// ---- 3. placement ----

async function placement(p: Paths, scale: Scale): Promise<unknown> {
  const { objective, optimizer } = await tinySetup(p.fixtures, scale);
  const batch = sftBatch(p.fixtures);
  // The graph the trainer runs on webgpu: int32 batch, flat AdamW.
  const { graph } = buildFusedStepGraph(objective, int32Batch(batch), { ...optimizer, flatUpdate: true });
  const observed = await runtimeFallbacks(graph);
  const predicted = fallbackNodes(graph);
  const same =
    JSON.stringify(observed.fallbacks.map((n) => n.name).sort()) ===
    JSON.stringify(predicted.map((f) => f.node).sort());
  return {
    deviceNodes: observed.deviceNodes,
    cpuNodes: observed.fallbacks,
    copies: observed.copies.map((n) => n.opType),
    staticPrediction: describeFallbacks(predicted),
    staticMatchesRuntime: same,
  };
}

// ---- 4. throughput ----

interface BenchSpec {
  model: DemoModelOptions;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
}

const BENCH: BenchSpec = {
  model: BENCH_MODEL,
  batch: 8,
  seq: 128,
  steps: 10,
  warmup: 2,
};

const LARGE: BenchSpec = {
  model: LARGE_MODEL,
  batch: 16,
  seq: 256,
  steps: 30,
  warmup: 5,
};

const LARGE_VARIANTS: Record<string, BenchSpec> = {
  seq128: { ...LARGE, batch: 32, seq: 128 },
  batch8: { ...LARGE, batch: 8 },
  layers4: { ...LARGE, model: { ...LARGE.model, numLayers: 4 } },
  vocab1024: { ...LARGE, model: { ...LARGE.model, vocabSize: 1024 } },
  hidden256: {
    ...LARGE,
    model: { ...LARGE.model, hiddenSize: 256, numHeads: 4, numKeyValueHeads: 4, intermediateSize: 688 },
  },
};

const gpu = (spec: BenchSpec, mode: Scale) => ({ spec, mode, ep: 'webgpu' as const, stateOnDevice: true });

const LARGE_PROFILED: BenchSpec = { ...LARGE, steps: 1, warmup: 2 };

const SESSION_VARIANTS: Record<string, NonNullable<TrainerOptions['session']>> = {
  baseline: {},
  memPatternOff: { ortOptions: { enableMemPattern: false } },
  optimizationBasic: { ortOptions: { graphOptimizationLevel: 'basic' } },
  oneThread: { ortOptions: { intraOpNumThreads: 1 } },
  noSpinning: { ortOptions: { extra: { session: { intra_op: { allow_spinning: '0' } } } } },
};

interface ThroughputCase {
  spec: BenchSpec;
  mode: Scale;
  ep: ExecutionProvider;
  stateOnDevice: boolean;
  /** Trainer options that differ from the defaults (variants measured side by side). */
  options?: Pick<TrainerOptions, 'session' | 'pretransposeWeights' | 'mixedPrecision'>;
}

async function throughput(c: ThroughputCase): Promise<unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-gpu-check-'));
  try {
    writeDemoModel(dir, { ...c.spec.model, seed: 0 });
    const rng = Rng.fromSeed(0);
    const params = benchParameters(await loadModel(dir), c.mode, rng);
    const trainer = new Trainer(
      new SftObjective(params.forward, params.initial),
      TrainState.initial(params.initial),
      {
        adamW: ADAMW_DEFAULTS,
        maxGradNorm: 1,
        weightDecayAll: true,
        executionProvider: c.ep,
        stateOnDevice: c.stateOnDevice,
        ...c.options,
        threads: c.ep === 'cpu' ? os.cpus().length : undefined,
        random: () => rng.next(),
      },
    );
    const batch = randomBatch(c.spec.batch, c.spec.seq, c.spec.model.vocabSize!, rng);
    const first = performance.now();
    await trainer.step([batch], 1e-3); // includes building the graph and the session
    const firstStepSeconds = (performance.now() - first) / 1000;
    for (let i = 1; i < c.spec.warmup; i++) await trainer.step([batch], 1e-3);
    const start = performance.now();
    let loss = 0;
    for (let i = 0; i < c.spec.steps; i++) loss = (await trainer.step([batch], 1e-3)).loss;
    const seconds = (performance.now() - start) / 1000;
    await trainer.release();
    return {
      tokensPerSecond: (c.spec.steps * batch.tokens) / seconds,
      msPerStep: (1000 * seconds) / c.spec.steps,
      firstStepSeconds,
      lastLoss: loss,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One step of the larger model under onnxruntime's profiler: host (kernel launch) and GPU time per op type. */
async function profile(base: TrainerOptions['session'] = {}): Promise<unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-profile-'));
  const ortOptions = { enableProfiling: true, profileFilePrefix: path.join(dir, 'step') };
  const timing = await throughput({
    ...gpu(LARGE_PROFILED, 'full'),
    options: { session: { ...base, ortOptions } },
  });
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) throw new Error('onnxruntime wrote no profile');
  return { timing, ...summarizeProfile(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))) };
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; shapes?: string };
}

/** Per op type: nodes, host microseconds (kernel_time) and GPU microseconds (the provider's timestamp queries)
 * in the last run; plus the run's wall time and the 25 costliest GPU kernels. */
function summarizeProfile(events: ProfileEvent[]): Record<string, unknown> {
  const runs = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const last = runs[runs.length - 1];
  const inLast = (e: ProfileEvent) => e.ts >= last.ts && e.ts <= last.ts + last.dur;
  const opOf = new Map<string, string>();
  const byOp: Record<string, { nodes: number; hostUs: number; gpuUs: number }> = {};
  const entry = (op: string) => (byOp[op] ??= { nodes: 0, hostUs: 0, gpuUs: 0 });
  for (const e of events.filter((x) => x.cat === 'Node' && x.name.endsWith('_kernel_time') && inLast(x))) {
    const node = e.name.slice(0, -'_kernel_time'.length);
    opOf.set(node, e.args?.op_name ?? '?');
    entry(opOf.get(node)!).nodes++;
    entry(opOf.get(node)!).hostUs += e.dur;
  }
  const gpuAll = events.filter((x) => x.cat === 'Api');
  const gpu = gpuAll.filter(inLast).length ? gpuAll.filter(inLast) : gpuAll.slice(-opOf.size);
  for (const e of gpu) entry(opOf.get(e.name.split('&')[0]) ?? '?').gpuUs += e.dur;
  const round = (v: number) => Math.round(v);
  return {
    runs: runs.length,
    lastRunUs: last.dur,
    hostUs: round(Object.values(byOp).reduce((a, b) => a + b.hostUs, 0)),
    gpuUs: round(gpu.reduce((a, b) => a + b.dur, 0)),
    gpuKernels: gpu.length,
    byOp: Object.fromEntries(
      Object.entries(byOp).sort((a, b) => b[1].gpuUs + b[1].hostUs - a[1].gpuUs - a[1].hostUs),
    ),
    topGpu: [...gpu]
      .sort((a, b) => b.dur - a.dur)
      .slice(0, 25)
      .map((e) => ({ name: e.name, us: e.dur, shapes: e.args?.shapes })),
  };
}

/** The host cost of one dispatch: a chain of `n` tiny element-wise nodes, per run and per node. */
async function dispatchCost(n = 2000): Promise<unknown> {
  const g = new Graph();
  const x = g.input('x', [16], 'float32');
  let y = x;
  for (let i = 0; i < n; i++) y = i % 2 ? op.add(y, x) : op.mul(y, x);
  g.output('y', y);
  const s = await createSession(g, {
    executionProvider: 'webgpu',
    graphOptimizationLevel: 'disabled',
  });
  const feed = { x: new Float32Array(16).fill(1) };
  for (let i = 0; i < 3; i++) await s.run(feed);
  const runs = 20;
  const start = performance.now();
  for (let i = 0; i < runs; i++) await s.run(feed);
  const ms = (performance.now() - start) / runs;
  await s.release();
  return { nodes: n, msPerRun: ms, usPerNode: (ms * 1000) / n };
}

function peer(p: Paths, spec: BenchSpec, mode: Scale): Record<string, unknown> {
  const m = spec.model;
  const args = {
    mode,
    hidden: m.hiddenSize,
    layers: m.numLayers,
    heads: m.numHeads,
    'kv-heads': m.numKeyValueHeads,
    inter: m.intermediateSize,
    vocab: m.vocabSize,
    batch: spec.batch,
    seq: spec.seq,
    steps: spec.steps,
    warmup: spec.warmup,
    threads: os.cpus().length,
    rank: 8,
    device: 'cuda',
  };
  const r = runPeer(
    p.peer,
    Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]),
    180_000,
  );
  if (!r) throw new Error('torch_peer.py did not run (its reason is on stderr)');
  return r;
}

// ---- driver ----

type Section = { name: string; run: () => Promise<unknown> | unknown; timeoutS: number };

function sections(p: Paths): Section[] {
  const tp = (name: string, c: ThroughputCase, timeoutS: number): Section => ({
    name,
    run: () => throughput(c),
    timeoutS,
  });
  const bucketCache = { providerOptions: { storageBufferCacheMode: 'bucket' } };
  return [
    { name: 'dispatch', run: () => dispatchCost(), timeoutS: 60 },
    { name: 'profile.large', run: () => profile(), timeoutS: 120 },
    { name: 'profile.large-bucket-cache', run: () => profile(bucketCache), timeoutS: 120 },
    tp('large.full.webgpu-bucket-cache', { ...gpu(LARGE, 'full'), options: { session: bucketCache } }, 240),
    tp(
      'large.full.webgpu-gemm-transb',
      { ...gpu(LARGE, 'full'), options: { pretransposeWeights: false } },
      240,
    ),
    { name: 'kernels', run: kernels, timeoutS: 60 },
    { name: 'trajectory.full', run: () => trajectories(p, 'full'), timeoutS: 90 },
    { name: 'trajectory.lora', run: () => trajectories(p, 'lora'), timeoutS: 90 },
    { name: 'trajectory.full-mixed', run: () => trajectories(p, 'full', true), timeoutS: 90 },
    { name: 'placement.full', run: () => placement(p, 'full'), timeoutS: 60 },
    { name: 'placement.lora', run: () => placement(p, 'lora'), timeoutS: 60 },
    tp('bench.full.webgpu', gpu(BENCH, 'full'), 120),
    { name: 'bench.full.torch-cuda', run: () => peer(p, BENCH, 'full'), timeoutS: 180 },
    tp('large.full.webgpu', gpu(LARGE, 'full'), 240),
    { name: 'large.full.torch-cuda', run: () => peer(p, LARGE, 'full'), timeoutS: 180 },
    tp('large.full.webgpu-mixed', { ...gpu(LARGE, 'full'), options: { mixedPrecision: true } }, 240),
    tp('bench.lora.webgpu', gpu(BENCH, 'lora'), 120),
    { name: 'bench.lora.torch-cuda', run: () => peer(p, BENCH, 'lora'), timeoutS: 180 },
    tp('bench.full.webgpu-host-state', { ...gpu(BENCH, 'full'), stateOnDevice: false }, 120),
    tp('bench.full.cpu', { spec: BENCH, mode: 'full', ep: 'cpu', stateOnDevice: false }, 120),
    // Where the larger model's step time goes: the same run with one dimension changed at a time.
    ...Object.entries(LARGE_VARIANTS).map(([k, spec]) => tp(`scaling.${k}`, gpu(spec, 'full'), 120)),
    // onnxruntime session settings that might cut the host's time per node, each against the same baseline.
    ...Object.entries(SESSION_VARIANTS).map(([k, session]) =>
      tp(`tuning.${k}`, { ...gpu(LARGE, 'full'), options: { session } }, 120),
    ),
  ];
}

/** Derived figures: tokens/s ratios against PyTorch CUDA (the target: >= 0.4 on the larger model). */
function summarize(results: Record<string, unknown>): Record<string, unknown> {
  const tps = (key: string) => {
    const r = results[key] as { tokensPerSecond?: number; tokens_per_s?: number } | undefined;
    return r?.tokensPerSecond ?? (r?.tokens_per_s !== undefined ? Number(r.tokens_per_s) : undefined);
  };
  const ratio = (ours: string, theirs: string) => {
    const [a, b] = [tps(ours), tps(theirs)];
    return a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : null;
  };
  return {
    benchFullVsTorchCuda: ratio('bench.full.webgpu', 'bench.full.torch-cuda'),
    benchLoraVsTorchCuda: ratio('bench.lora.webgpu', 'bench.lora.torch-cuda'),
    largeFullVsTorchCuda: ratio('large.full.webgpu', 'large.full.torch-cuda'),
    largeMixedVsTorchCuda: ratio('large.full.webgpu-mixed', 'large.full.torch-cuda'),
    largeTarget: 0.4,
    stateOnDeviceSpeedup: ratio('bench.full.webgpu', 'bench.full.webgpu-host-state'),
  };
}

async function runSection(name: string, p: Paths): Promise<void> {
  const section = sections(p).find((s) => s.name === name);
  if (!section) throw new Error(`unknown section '${name}'`);
  process.stdout.write(JSON.stringify(await section.run()) + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      fixtures: { type: 'string', default: path.resolve(process.cwd(), 'test/fixtures/hf-tiny') },
      peer: { type: 'string', default: path.resolve(process.cwd(), '../shared/bench/torch_peer.py') },
      out: { type: 'string', default: '.' },
      'deadline-s': { type: 'string', default: '540' },
      only: { type: 'string' },
      section: { type: 'string' },
    },
  });
  const p: Paths = { fixtures: path.resolve(values.fixtures!), peer: path.resolve(values.peer!) };
  if (values.section) return runSection(values.section, p);

  const deadline = Date.now() + Number(values['deadline-s']) * 1000;
  const only = values.only?.split(',');
  const out = path.resolve(values.out!);
  fs.mkdirSync(out, { recursive: true });
  const results: Record<string, unknown> = {};
  const save = () =>
    fs.writeFileSync(
      path.join(out, 'gpu-check.json'),
      JSON.stringify({ summary: summarize(results), results }, null, 2),
    );
  for (const s of sections(p)) {
    if (only && !only.some((o) => s.name.startsWith(o))) continue;
    const left = Math.floor((deadline - Date.now()) / 1000);
    if (left < 15) {
      results[s.name] = { skipped: 'deadline' };
      continue;
    }
    const started = Date.now();
    const r = spawnSync(
      process.execPath,
      [__filename, '--section', s.name, '--fixtures', p.fixtures, '--peer', p.peer],
      {
        encoding: 'utf8',
        timeout: Math.min(s.timeoutS, left) * 1000,
        maxBuffer: 64 * 2 ** 20,
      },
    );
    const last = r.stdout?.trim().split('\n').pop();
    results[s.name] =
      r.status === 0 && last
        ? JSON.parse(last)
        : { failed: r.error?.message ?? `exit ${r.status ?? r.signal}`, stderr: r.stderr?.slice(-3000) };
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${s.name} (${seconds}s): ${JSON.stringify(results[s.name]).slice(0, 400)}\n`);
    save();
  }
  process.stdout.write(`summary: ${JSON.stringify(summarize(results))}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`gpu-check: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
