/**
 * `npm run bench:train`: training throughput and peak memory of the LLaMA-style bench model (hidden 256,
 * 4 layers, 4 heads, intermediate 688, vocabulary 8192; batch 8 x 128 random tokens), full update and LoRA
 * r 8 on q/v, 10 steps after 2 warm-up steps on 2 threads, next to ../shared/bench/torch_peer.py with the same
 * settings in the same run. Each mode runs in its own child process so its peak RSS is its own.
 * The last line is one JSON object: {"full": {...}, "lora": {...}}.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { writeDemoModel } from '../src/models/demo';
import { loadModel } from '../src/models/model';
import { Rng } from '../src/util/rng';
import { SftObjective } from '../src/training/sft';
import { TrainState } from '../src/training/train-state';
import { Trainer } from '../src/training/trainer';
import { BENCH_LORA, BENCH_MODEL, benchParameters, randomBatch } from './bench-model';
import { peerScript, runPeer } from './peer';
import { sessionProcessEnv } from '../src/engine/allocator';

/** The settings torch_peer.py is run with (its defaults). */
const BENCH = {
  model: { ...BENCH_MODEL, seed: 0 },
  batch: 8,
  seq: 128,
  steps: 10,
  warmup: 2,
  threads: 2,
  learningRate: 1e-3,
  weightDecay: 0.01,
};
type BenchMode = 'full' | 'lora';

/** One mode in this process: tokens/s over the timed steps and this process's peak RSS. */
async function trainBench(
  mode: BenchMode,
  modelDir: string,
): Promise<{ tokensPerSecond: number; peakRssMiB: number }> {
  const model = await loadModel(modelDir);
  const rng = Rng.fromSeed(0);
  const params = benchParameters(model, mode, rng);
  const trainer = new Trainer(
    new SftObjective(params.forward, params.initial),
    TrainState.initial(params.initial),
    {
      adamW: { ...ADAMW_DEFAULTS, weightDecay: BENCH.weightDecay },
      maxGradNorm: 1,
      weightDecayAll: true,
      threads: BENCH.threads,
      random: () => rng.next(),
    },
  );
  const batch = randomBatch(BENCH.batch, BENCH.seq, BENCH.model.vocabSize, rng);
  for (let i = 0; i < BENCH.warmup; i++) await trainer.step([batch], BENCH.learningRate);
  const start = performance.now();
  for (let i = 0; i < BENCH.steps; i++) await trainer.step([batch], BENCH.learningRate);
  const seconds = (performance.now() - start) / 1000;
  await trainer.release();
  return {
    tokensPerSecond: (BENCH.steps * batch.tokens) / seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

interface ModeResult {
  tokensPerSecond: number;
  peerTokensPerSecond: number | null;
  ratio: number | null;
  peakRssMiB: number;
  peerPeakRssMiB: number | null;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

function runChild(mode: BenchMode, modelDir: string): { tokensPerSecond: number; peakRssMiB: number } {
  const r = spawnSync(process.execPath, [__filename, '--child', mode, modelDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: sessionProcessEnv(),
  });
  const last = r.stdout.trim().split('\n').pop();
  if (r.status !== 0 || !last) throw new Error(`bench child '${mode}' failed (${r.status ?? r.signal})`);
  return JSON.parse(last);
}

async function main(): Promise<void> {
  const [flag, mode, modelDir] = process.argv.slice(2);
  if (flag === '--child') {
    const r = await trainBench(mode as BenchMode, modelDir);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-bench-'));
  try {
    writeDemoModel(dir, BENCH.model);
    const peer = peerScript('torch_peer.py');
    const results: Record<string, ModeResult> = {};
    for (const m of ['full', 'lora'] as const) {
      const ours = runChild(m, dir);
      const p = peer
        ? runPeer(peer, [
            ...['--mode', m, '--hidden', '256', '--layers', '4', '--heads', '4', '--kv-heads', '4'],
            ...[
              '--inter',
              '688',
              '--vocab',
              '8192',
              '--batch',
              String(BENCH.batch),
              '--seq',
              String(BENCH.seq),
            ],
            ...[
              '--steps',
              String(BENCH.steps),
              '--warmup',
              String(BENCH.warmup),
              '--threads',
              String(BENCH.threads),
            ],
            ...['--rank', String(BENCH_LORA.loraRank)],
          ])
        : null;
      const peerTps = p ? Number(p.tokens_per_s) : null;
      const peerRss = p ? Number(p.peak_rss_mib) : null;
      results[m] = {
        tokensPerSecond: round(ours.tokensPerSecond),
        peerTokensPerSecond: peerTps,
        ratio: peerTps ? round(ours.tokensPerSecond / peerTps, 2) : null,
        peakRssMiB: round(ours.peakRssMiB),
        peerPeakRssMiB: peerRss,
      };
      const r = results[m];
      process.stdout.write(
        `${m.padEnd(4)}  whetstone ${r.tokensPerSecond} tok/s, peak ${r.peakRssMiB} MiB` +
          (p
            ? ` | torch ${peerTps} tok/s, peak ${peerRss} MiB | speed x${r.ratio}, memory x${round(r.peakRssMiB / peerRss!, 2)}`
            : ' | no peer') +
          '\n',
      );
    }
    process.stdout.write(JSON.stringify(results) + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:train: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
