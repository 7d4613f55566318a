/**
 * `npm run bench:generate`: greedy decoding speed of the LLaMA-style bench model (hidden 256, 4 layers, 4 heads,
 * intermediate 688, vocabulary 8192; random weights), one 16-token prompt, 2 threads, at growing numbers of new
 * tokens: with the static KV cache, without it (the whole sequence every step), and PyTorch's eager decoding with a
 * growing cache (bench/peers/torch_llama.py on the same safetensors) in the same run. Each measurement follows a
 * warm-up run of the same shape (sessions built, caches warm) and is the fastest of 3 runs. The last line is one JSON
 * object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeDemoModel } from '../src/models/demo';
import { Generator } from '../src/models/generate';
import { loadModel, LoadedModel } from '../src/models/model';
import { Rng } from '../src/util/rng';
import { runPeer } from './peer';
import { BENCH_MODEL } from './bench-model';

const MODEL = { ...BENCH_MODEL, maxPositionEmbeddings: 1024, seed: 0 };
const PROMPT_LENGTH = 16;
const LENGTHS = [32, 64, 128, 256];
const THREADS = 2;
/** Timed runs per measurement; the fastest counts (this machine is shared, so slow runs are mostly contention). */
const REPEATS = 3;

/** Seconds of the fastest of REPEATS greedy runs of `newTokens` tokens after a warm-up run, and its tokens. */
async function timed(model: LoadedModel, prompt: number[], newTokens: number, useCache: boolean) {
  const gen = new Generator(model, { threads: THREADS });
  try {
    const req = { prompts: [prompt], maxNewTokens: newTokens, eosTokenIds: [], useCache };
    await gen.generate(req);
    let best = Infinity;
    let tokens: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const start = process.hrtime.bigint();
      tokens = (await gen.generate(req)).generated[0];
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    }
    return { seconds: best, tokens };
  } finally {
    await gen.release();
  }
}

const fmt = (v: number | null, digits = 1) => (v === null ? '-' : v.toFixed(digits));

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-bench-generate-'));
  try {
    writeDemoModel(dir, MODEL);
    const model = await loadModel(dir);
    const rng = Rng.fromSeed(1);
    const prompt = [1, ...Array.from({ length: PROMPT_LENGTH - 1 }, () => 3 + rng.int(MODEL.vocabSize - 3))];

    const peerScript = path.resolve(process.cwd(), 'bench/peers/torch_llama.py');
    const peer = runPeer(peerScript, [
      dir,
      '--prompt',
      prompt.join(','),
      '--lengths',
      LENGTHS.join(','),
      '--threads',
      String(THREADS),
    ]);
    const peerLengths = (peer?.lengths ?? []) as {
      newTokens: number;
      tokensPerSecond: number;
      tokens: number[];
    }[];

    const rows = [];
    for (const n of LENGTHS) {
      const cached = await timed(model, prompt, n, true);
      const uncached = await timed(model, prompt, n, false);
      const p = peerLengths.find((l) => l.newTokens === n) ?? null;
      const cachedTps = n / cached.seconds;
      const uncachedTps = n / uncached.seconds;
      rows.push({
        newTokens: n,
        cachedTokensPerSecond: cachedTps,
        uncachedTokensPerSecond: uncachedTps,
        cacheSpeedup: cachedTps / uncachedTps,
        peerTokensPerSecond: p ? p.tokensPerSecond : null,
        ratioToPeer: p ? cachedTps / p.tokensPerSecond : null,
        sameTokensAsUncached: cached.tokens.join() === uncached.tokens.join(),
        sameTokensAsPeer: p ? p.tokens.join() === cached.tokens.join() : null,
      });
    }

    process.stdout.write(
      `greedy decoding, bench model (hidden 256, 4 layers, vocab 8192), prompt ${PROMPT_LENGTH} tokens, ${THREADS} threads` +
        (peer ? `, peer torch ${String(peer.torch)}` : ', no peer') +
        '\n',
    );
    process.stdout.write(
      'new tokens | cached tok/s | uncached tok/s | cache x | torch tok/s | ours/torch | same tokens\n',
    );
    for (const r of rows) {
      process.stdout.write(
        `${String(r.newTokens).padStart(10)} | ${fmt(r.cachedTokensPerSecond).padStart(12)} | ` +
          `${fmt(r.uncachedTokensPerSecond).padStart(14)} | ${fmt(r.cacheSpeedup, 2).padStart(7)} | ` +
          `${fmt(r.peerTokensPerSecond).padStart(11)} | ${fmt(r.ratioToPeer, 2).padStart(10)} | ` +
          `${r.sameTokensAsUncached}${r.sameTokensAsPeer === null ? '' : `/${r.sameTokensAsPeer}`}\n`,
      );
    }
    process.stdout.write(
      JSON.stringify({ model: MODEL, promptLength: PROMPT_LENGTH, threads: THREADS, lengths: rows }) + '\n',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
