/**
 * `npm run bench:scale`: LoRA training (r 8 on q/v, batch 1, 2 threads, 3 steps after 1 warm-up) of a random
 * model of Qwen2-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 key/value heads, intermediate 4864, vocabulary
 * 151,936; bfloat16 weights, as released checkpoints are; written once to /tmp) at 512, 1,024, 2,048 and 4,096 tokens per sample, each next to
 * ../shared/bench/torch_peer.py with the same shape in the same run. Each side runs in a child process watched
 * under a memory cap (WHETSTONE_BENCH_MEMORY_CAP_GIB, 18 GiB): one that passes it is killed and reported as out of
 * memory, and the benchmark goes on. Prints seconds per step, tokens/s and peak RSS of both, and our delay to the
 * first step (graph build + emission + session creation, and the step itself) and the layout the memory plan
 * chose (budget WHETSTONE_MEMORY_BUDGET, default 8 GiB); then greedy generation after a prompt of the longest length
 * (the evaluation path). The last line is one JSON object.
 * `npm run bench:seed-size` (WHETSTONE_BENCH_SHAPE=baichuan2-7b) runs the followed platform's own size once: one
 * LoRA optimizer step of a random Baichuan2-7B-shape bfloat16 checkpoint (W_pack, normalised head; 15 GB in /tmp)
 * on a 4,096-token sample, under a 20 GiB budget, without a peer (PyTorch eager cannot hold it on this machine),
 * in a memory cgroup limited to the 20 GiB target where one can be made (root): the checkpoint's mapped pages count
 * against it, so the kernel drops them past it and re-reads them when used, rather than keeping the 15 GB file
 * resident beside the step's anonymous memory. It prints the anonymous peak and the pages read back as well.
 * Needs ~5 GB (0.5B) or ~16 GB (7B) in /tmp; run it under `flock /tmp/whetstone-bigmem.lock`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { DemoModelOptions, writeDemoModel } from '../src/models/demo';
import { Generator } from '../src/models/generate';
import { loadModel } from '../src/models/model';
import { parseHyperparameters } from '../src/training/hyperparameters';
import { Rng } from '../src/util/rng';
import { SftObjective } from '../src/training/sft';
import { TrainState } from '../src/training/train-state';
import { CompileParts, Trainer } from '../src/training/trainer';
import {
  LAYOUTS,
  arenaFits,
  estimatePeak,
  memoryBudget,
  memoryJob,
  parameterCount,
  planMemory,
} from '../src/training/memory-plan';
import { MemoryLayout } from '../src/models/memory-layout';
import { sessionProcessEnv } from '../src/engine/allocator';
import { BAICHUAN2_7B, BENCH_LORA, benchParameters, randomBatch } from './bench-model';
import { peerScript, torchPython } from './peer';
import { MemoryCgroup, createMemoryCgroup } from '../test/integration/support/memory-cgroup';

interface Preset {
  model: Required<Pick<DemoModelOptions, 'hiddenSize' | 'numLayers' | 'numHeads' | 'numKeyValueHeads'>> &
    DemoModelOptions & { intermediateSize: number; vocabSize: number };
  lengths: number[];
  /** Timed steps after `warmup` steps (the first included); 0: the first step alone, less its compile time. */
  steps: number;
  warmup: number;
  loraTargets: string[];
  /** Defaults of WHETSTONE_MEMORY_BUDGET and WHETSTONE_BENCH_MEMORY_CAP_GIB. */
  budget: string;
  capGiB: number;
  /**
   * Our child runs in a memory cgroup of this limit (GiB): the kernel then drops mapped checkpoint pages past it
   * (they are clean, re-read when next used) instead of keeping a whole file larger than the target resident.
   */
  cgroupGiB?: number;
  /** Run the PyTorch peer and the generation after the longest prompt. */
  peer: boolean;
  generate: boolean;
}

const PRESETS: Record<string, Preset> = {
  /** Qwen2-0.5B's shape (untied head, as the peer builds it). */
  'qwen2-0.5b': {
    model: {
      hiddenSize: 896,
      numLayers: 24,
      numHeads: 14,
      numKeyValueHeads: 2,
      intermediateSize: 4864,
      vocabSize: 151_936,
      maxPositionEmbeddings: 32_768,
    },
    lengths: [512, 1024, 2048, 4096],
    steps: 3,
    warmup: 1,
    loraTargets: ['q_proj', 'v_proj'],
    budget: '8GiB',
    capGiB: 18,
    peer: true,
    generate: true,
  },
  /** Baichuan2-7B's shape: q/k/v in one W_pack (LoRA on it, as LLaMA-Factory targets it), normalised head. */
  'baichuan2-7b': {
    model: BAICHUAN2_7B,
    lengths: [4096],
    steps: 0,
    warmup: 1,
    loraTargets: ['W_pack'],
    budget: '20GiB',
    capGiB: 22,
    cgroupGiB: 20,
    peer: false,
    generate: false,
  },
};
const SHAPE_NAME = process.env.WHETSTONE_BENCH_SHAPE ?? 'qwen2-0.5b';
const PRESET = PRESETS[SHAPE_NAME];
if (!PRESET) throw new Error(`WHETSTONE_BENCH_SHAPE: one of ${Object.keys(PRESETS).join(', ')}`);
const SHAPE = PRESET.model;
/** Tokens generated after the longest prompt (the evaluation path: prefill, then cached decode steps). */
const GENERATED = 8;
const BENCH = { threads: 2, learningRate: 1e-3 };
const MODEL_DIR = path.join(os.tmpdir(), `whetstone-scale-${SHAPE_NAME}-bf16`);
const GIB = 2 ** 30;
const CAP_BYTES = Number(process.env.WHETSTONE_BENCH_MEMORY_CAP_GIB ?? PRESET.capGiB) * GIB;

interface SideResult {
  secondsPerStep: number;
  tokensPerSecond: number;
  peakRssMiB: number;
  /** Ours only: seconds from the trainer's creation to the end of the first step, and its compile part. */
  firstStepSeconds?: number;
  compileSeconds?: number;
  /** The compile's parts: the step graph built (autodiff included), emitted, and onnxruntime's session. */
  compileParts?: CompileParts;
  /** Ours only: the memory plan's layout and estimate. */
  layout?: MemoryLayout;
  estimateGiB?: number;
  /** Ours only: the sampled peak of anonymous memory (RSS less mapped file pages), and pages read back from disk. */
  peakAnonMiB?: number;
  majorPageFaults?: number;
  /** Where the child ran in a memory cgroup: its limit and the most it was charged (anonymous + page cache). */
  cgroup?: { limitGiB: number; maxUsageGiB: number } | { reason: string };
}
type Outcome = SideResult | { outOfMemory: true; peakRssMiB: number } | { failed: string };

/** One length in this process (the child): LoRA steps on random tokens. */
async function child(seq: number): Promise<SideResult> {
  const model = await loadModel(MODEL_DIR);
  const rng = Rng.fromSeed(0);
  const params = benchParameters(model, 'lora', rng, PRESET.loraTargets);
  // The layout the memory plan picks for this length within the budget (WHETSTONE_MEMORY_BUDGET, default 8 GiB:
  // the 4,096-token target), as a job's run would.
  const parameters = parameterCount(model);
  const hp = parseHyperparameters({ batchSize: 1, maxSequenceLength: seq, loraRank: BENCH_LORA.loraRank });
  const job = memoryJob(model.config, parameters, { method: 'SFT', scale: 'lora', hp, maxPositions: seq });
  const budget = memoryBudget({ WHETSTONE_MEMORY_BUDGET: PRESET.budget, ...process.env });
  // Where nothing fits, a job would be refused; the bench measures the most frugal layout anyway.
  const frugal = LAYOUTS[LAYOUTS.length - 1];
  const fits = LAYOUTS.some((l) => estimatePeak(job, l).totalBytes <= budget);
  const plan = fits
    ? planMemory(job, budget)
    : { layout: frugal, estimate: estimatePeak(job, frugal), budgetBytes: budget };
  const start = performance.now();
  const trainer = new Trainer(
    new SftObjective(params.forward, params.initial),
    TrainState.initial(params.initial),
    {
      adamW: { ...ADAMW_DEFAULTS, weightDecay: 0.01 },
      maxGradNorm: 1,
      weightDecayAll: true,
      memoryLayout: plan.layout,
      // As a job's run: onnxruntime's arena where the plan leaves room for it (memory-plan.ts `arenaFits`).
      ...(arenaFits(plan) ? { session: { ortOptions: { enableCpuMemArena: true } } } : {}),
      threads: BENCH.threads,
      random: () => rng.next(),
    },
  );
  const batch = randomBatch(1, seq, SHAPE.vocabSize, rng);
  const first = await trainer.step([batch], BENCH.learningRate);
  const firstStepSeconds = (performance.now() - start) / 1000;
  let secondsPerStep = firstStepSeconds - first.compileSeconds;
  if (PRESET.steps > 0) {
    for (let i = 1; i < PRESET.warmup; i++) await trainer.step([batch], BENCH.learningRate);
    const t0 = performance.now();
    for (let i = 0; i < PRESET.steps; i++) await trainer.step([batch], BENCH.learningRate);
    secondsPerStep = (performance.now() - t0) / 1000 / PRESET.steps;
  }
  await trainer.release();
  return {
    secondsPerStep,
    tokensPerSecond: seq / secondsPerStep,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    majorPageFaults: process.resourceUsage().majorPageFault,
    firstStepSeconds,
    compileSeconds: first.compileSeconds,
    compileParts: first.compileParts,
    layout: plan.layout,
    estimateGiB: plan.estimate.totalBytes / GIB,
  };
}

/** Greedy generation of GENERATED tokens after a random `seq`-token prompt (prefill + decode), in this process. */
async function generateChild(seq: number): Promise<{ seconds: number; peakRssMiB: number }> {
  const model = await loadModel(MODEL_DIR);
  const rng = Rng.fromSeed(1);
  const prompt = Array.from({ length: seq }, () => Math.floor(rng.next() * SHAPE.vocabSize));
  const gen = new Generator(model, { threads: BENCH.threads, buckets: { prompt: 1, slots: 1 } });
  const start = performance.now();
  await gen.generate({ prompts: [prompt], maxNewTokens: GENERATED, eosTokenIds: [] });
  const seconds = (performance.now() - start) / 1000;
  await gen.release();
  return { seconds, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/** A process's resident bytes, all and anonymous, from /proc (0 once it has exited). */
function residentBytes(pid: number): { rss: number; anon: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kB('VmRSS'), anon: kB('RssAnon') };
  } catch {
    return { rss: 0, anon: 0 };
  }
}

/** The memory cgroup the preset asks for, limited; the page cache dropped first so that the checkpoint's pages
 * are charged to it when the child maps them (pages cached earlier stay charged to whoever read them). */
function benchCgroup(limitGiB: number): MemoryCgroup | { reason: string } {
  const cgroup = createMemoryCgroup('whetstone-bench');
  if ('reason' in cgroup) return cgroup;
  cgroup.setLimit(limitGiB * GIB);
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
  } catch (err) {
    process.stdout.write(
      `could not drop the page cache (${(err as Error).message}): cached pages are not charged\n`,
    );
  }
  return cgroup;
}

/** Run a command, killing it when its RSS passes the cap; its last stdout line is JSON. */
function capped(
  cmd: string,
  args: string[],
  { env = process.env, cgroup }: { env?: NodeJS.ProcessEnv; cgroup?: MemoryCgroup } = {},
): Promise<{ json?: Record<string, unknown>; oom?: number; err?: string; peakAnon?: number }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    cgroup?.add(p.pid!);
    let out = '';
    let err = '';
    let peak = 0;
    let peakAnon = 0;
    let killed = false;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const watch = setInterval(() => {
      const { rss, anon } = residentBytes(p.pid!);
      peak = Math.max(peak, rss);
      peakAnon = Math.max(peakAnon, anon);
      if (rss > CAP_BYTES && !killed) {
        killed = true;
        p.kill('SIGKILL');
      }
    }, 50);
    p.on('close', (code, signal) => {
      clearInterval(watch);
      const last = out.trim().split('\n').pop();
      if (killed || signal === 'SIGKILL') resolve({ oom: peak });
      else if (code !== 0 || !last)
        resolve({ err: `exit ${code ?? signal}: ${err.trim().split('\n').pop()}` });
      else resolve({ json: JSON.parse(last) as Record<string, unknown>, peakAnon });
    });
  });
}

function outcome(
  r: Awaited<ReturnType<typeof capped>>,
  read: (j: Record<string, unknown>) => SideResult,
): Outcome {
  if (r.oom !== undefined) return { outOfMemory: true, peakRssMiB: r.oom / 2 ** 20 };
  if (r.err) return { failed: r.err };
  return read(r.json!);
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

function describeCompile(p: CompileParts | undefined): string {
  if (!p) return 'parts not reported';
  return `graph ${round(p.graph, 1)} s, emission ${round(p.emit, 1)} s, session ${round(p.session, 1)} s`;
}

function describe(o: Outcome): string {
  if ('outOfMemory' in o) return `out of memory (killed at ${round(o.peakRssMiB / 1024)} GiB)`;
  if ('failed' in o) return `failed: ${o.failed}`;
  return (
    `${round(o.secondsPerStep)} s/step, ${round(o.tokensPerSecond, 1)} tok/s, peak ${round(o.peakRssMiB / 1024)} GiB` +
    (o.firstStepSeconds !== undefined
      ? `, first step after ${round(o.firstStepSeconds, 1)} s (compile ${round(o.compileSeconds ?? 0, 1)} s: ` +
        `${describeCompile(o.compileParts)}), ` +
        `layout ${JSON.stringify(o.layout)} estimated ${round(o.estimateGiB ?? 0)} GiB, ` +
        `anonymous peak ${round((o.peakAnonMiB ?? 0) / 1024)} GiB, ${o.majorPageFaults} pages read back` +
        (o.cgroup
          ? 'reason' in o.cgroup
            ? ` (no memory cgroup: ${o.cgroup.reason})`
            : ` (memory cgroup limit ${o.cgroup.limitGiB} GiB, charged at most ${o.cgroup.maxUsageGiB} GiB)`
          : '')
      : '')
  );
}

async function main(): Promise<void> {
  const [flag, seq] = process.argv.slice(2);
  if (flag === '--child' || flag === '--generate') {
    const run = flag === '--child' ? child : generateChild;
    process.stdout.write(JSON.stringify(await run(Number(seq))) + '\n');
    return;
  }
  if (!fs.existsSync(path.join(MODEL_DIR, 'config.json'))) {
    process.stdout.write(`writing the random ${SHAPE_NAME}-shape model to ${MODEL_DIR}\n`);
    writeDemoModel(MODEL_DIR, { ...SHAPE, seed: 0, dtype: 'BF16' });
  }
  const lengths = process.env.WHETSTONE_BENCH_LENGTHS?.split(',').map(Number) ?? PRESET.lengths;
  const peer = PRESET.peer ? peerScript('torch_peer.py') : null;
  const python = peer ? torchPython() : null;
  if (!PRESET.peer) process.stdout.write(`no PyTorch peer for the ${SHAPE_NAME} shape\n`);
  else if (!python)
    process.stdout.write('no PyTorch peer (../shared/bench/torch_peer.py with a python3 that has torch)\n');
  const results: Record<
    string,
    { whetstone: Outcome; torch: Outcome | null; memory?: number; speed?: number }
  > = {};
  for (const t of lengths) {
    const cgroup = PRESET.cgroupGiB ? benchCgroup(PRESET.cgroupGiB) : undefined;
    const confined = cgroup && !('reason' in cgroup) ? cgroup : undefined;
    const run = await capped(process.execPath, [...process.execArgv, __filename, '--child', String(t)], {
      env: sessionProcessEnv(),
      cgroup: confined,
    });
    const ours = outcome(run, (j) => ({
      ...(j as unknown as SideResult),
      peakAnonMiB: (run.peakAnon ?? 0) / 2 ** 20,
      ...(cgroup
        ? {
            cgroup: confined
              ? { limitGiB: PRESET.cgroupGiB!, maxUsageGiB: round(confined.peakBytes() / GIB) }
              : (cgroup as { reason: string }),
          }
        : {}),
    }));
    confined?.remove();
    const theirs = python
      ? outcome(
          await capped(python, [
            peer!,
            ...['--mode', 'lora', '--hidden', String(SHAPE.hiddenSize), '--layers', String(SHAPE.numLayers)],
            ...['--heads', String(SHAPE.numHeads), '--kv-heads', String(SHAPE.numKeyValueHeads)],
            ...[
              '--inter',
              String(SHAPE.intermediateSize),
              '--vocab',
              String(SHAPE.vocabSize),
              '--batch',
              '1',
            ],
            ...['--seq', String(t), '--steps', String(PRESET.steps), '--warmup', String(PRESET.warmup)],
            ...['--threads', String(BENCH.threads)],
            ...['--rank', String(BENCH_LORA.loraRank)],
          ]),
          (j) => ({
            secondsPerStep: Number(j.ms_per_step) / 1000,
            tokensPerSecond: Number(j.tokens_per_s),
            peakRssMiB: Number(j.peak_rss_mib),
          }),
        )
      : null;
    const both = 'secondsPerStep' in ours && theirs && 'secondsPerStep' in theirs;
    results[t] = {
      whetstone: ours,
      torch: theirs,
      ...(both
        ? {
            memory: round(ours.peakRssMiB / theirs.peakRssMiB),
            speed: round(ours.tokensPerSecond / theirs.tokensPerSecond),
          }
        : {}),
    };
    const r = results[t];
    process.stdout.write(
      `${String(t).padStart(4)} tokens  whetstone ${describe(ours)}\n` +
        `             torch     ${theirs ? describe(theirs) : 'not run'}\n` +
        (both ? `             memory x${r.memory}, speed x${r.speed}\n` : ''),
    );
  }
  const generation = PRESET.generate ? await generationAfter(Math.max(...lengths)) : undefined;
  process.stdout.write(
    JSON.stringify({ shape: SHAPE_NAME, capGiB: CAP_BYTES / GIB, lengths: results, generation }) + '\n',
  );
}

/** Greedy generation after a `longest`-token prompt in a capped child; prints its line and returns its figures. */
async function generationAfter(longest: number) {
  const generation = await capped(
    process.execPath,
    [...process.execArgv, __filename, '--generate', String(longest)],
    { env: sessionProcessEnv() },
  );
  const g = generation.json as { seconds: number; peakRssMiB: number } | undefined;
  process.stdout.write(
    `generation: ${longest}-token prompt + ${GENERATED} greedy tokens ` +
      (g
        ? `in ${round(g.seconds, 1)} s, peak ${round(g.peakRssMiB / 1024)} GiB\n`
        : generation.oom !== undefined
          ? `out of memory (killed at ${round(generation.oom / GIB)} GiB)\n`
          : `failed: ${generation.err}\n`),
  );
  return g ?? generation;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
