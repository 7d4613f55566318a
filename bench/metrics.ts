/**
 * `npm run bench:metrics`: samples/s of scoring 10,000 Chinese prediction/reference pairs of 50-200 characters
 * (jieba segmentation, default stop words, the six metrics, the means), next to bench/peers/metrics_peer.py in
 * the same run: nltk BLEU plus plain Python ROUGE/F1 on the same pairs pre-segmented by our pipeline (jieba is
 * not available to Python here). Target: 20x the peer on that same pre-segmented input (issue 4's comparison);
 * our throughput with jieba segmentation included is reported next to it. The pairs are built deterministically from the sentences
 * of test/fixtures/hf-tiny/generator/corpus_zh.txt with a seeded RNG: a reference of random sentences, and
 * a prediction that keeps, replaces or drops each of them, each cut to its own length. The last line is one
 * JSON object.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SampleScores,
  SetScores,
  aggregate,
  scoreSample,
  scoreTokens,
  tokenize,
} from '../src/evaluation/metrics';
import { Rng } from '../src/util/rng';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 10_000);
const RUNS = 3;
const TARGET = 20;
const SEED = 4;

interface Pair {
  prediction: string;
  reference: string;
}

/** Sentences of the Chinese corpus: markdown table cells and links unwrapped, split at sentence ends. */
function corpusSentences(): string[] {
  const text = fs.readFileSync(
    path.resolve(process.cwd(), 'test/fixtures/hf-tiny/generator/corpus_zh.txt'),
    'utf8',
  );
  return text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .split(/[。！？\n|]/)
    .map((s) => s.replace(/[#*-]+/g, '').trim())
    .filter((s) => (s.match(/\p{Script=Han}/gu) ?? []).length >= 6);
}

/** The first `length` characters of sentences joined with '。', drawn until long enough. */
function fill(pieces: string[], length: number, draw: () => string): string {
  const out = [...pieces];
  while (out.join('。').length < length) out.push(draw());
  return Array.from(out.join('。')).slice(0, length).join('');
}

function makePairs(count: number): Pair[] {
  const sentences = corpusSentences();
  const rng = Rng.fromSeed(SEED);
  const draw = () => sentences[rng.int(sentences.length)];
  const length = () => 50 + rng.int(151); // 50..200 characters
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const reference = fill([], length(), draw);
    const kept = reference.split('。').flatMap((s) => {
      const u = rng.next();
      return u < 0.6 ? [s] : u < 0.85 ? [draw()] : [];
    });
    pairs.push({ reference, prediction: fill(kept, length(), draw) });
  }
  return pairs;
}

function timeIt<T>(work: () => T): { result: T; seconds: number } {
  const start = process.hrtime.bigint();
  const result = work();
  return { result, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Median samples/s over RUNS runs of `work`, and the result of the last one. */
function throughput(count: number, work: () => SetScores): { samplesPerSecond: number; result: SetScores } {
  const runs = Array.from({ length: RUNS }, () => timeIt(work));
  const rates = runs.map((r) => count / r.seconds).sort((a, b) => a - b);
  return { samplesPerSecond: rates[Math.floor(RUNS / 2)], result: runs[RUNS - 1].result };
}

/** A python3 that can import nltk (Debian's first: the pyenv one on PATH has none), or null. */
function nltkPython(): string | null {
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(python, ['-c', 'import nltk'], { stdio: 'ignore' }).status === 0) return python;
  }
  return null;
}

function runPeer(tokenized: [string[], string[]][]): { samplesPerSecond: number; means: SetScores } | null {
  const python = nltkPython();
  if (!python) {
    process.stderr.write('peer skipped: no python3 with nltk\n');
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-bench-metrics-'));
  try {
    const input = path.join(dir, 'pairs.json');
    fs.writeFileSync(input, JSON.stringify({ pairs: tokenized }));
    const script = path.resolve(process.cwd(), 'bench/peers/metrics_peer.py');
    const r = spawnSync(python, [script, input], { encoding: 'utf8', timeout: 600_000 });
    const last = r.stdout?.trim().split('\n').pop();
    if (r.status !== 0 || !last) {
      process.stderr.write(`peer failed (${r.status ?? r.signal}): ${r.stderr?.slice(-2000)}\n`);
      return null;
    }
    return JSON.parse(last);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Largest absolute difference between two sets' means, over every score. */
function maxDifference(a: SetScores, b: SetScores): number {
  const flat = (s: SampleScores) => [
    s.accuracy,
    s.f1,
    s.bleu4,
    ...[s.rouge1, s.rouge2, s.rougeL].flatMap((m) => [m.precision, m.recall, m.f]),
  ];
  const fb = flat(b);
  return Math.max(...flat(a).map((x, i) => Math.abs(x - fb[i])));
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

function main(): void {
  const pairs = makePairs(PAIRS);
  const chars = pairs.flatMap((p) => [p.prediction.length, p.reference.length]);
  const tokenized = pairs.map((p): [string[], string[]] => [tokenize(p.prediction), tokenize(p.reference)]);
  const tokens = tokenized.flatMap(([p, r]) => [p.length, r.length]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

  // Warm-up: loads the jieba dictionary and lets the JIT see the hot paths.
  aggregate(pairs.slice(0, 500).map((p) => scoreSample(p.prediction, p.reference)));
  const full = throughput(PAIRS, () => aggregate(pairs.map((p) => scoreSample(p.prediction, p.reference))));
  const scoringOnly = throughput(PAIRS, () => aggregate(tokenized.map(([p, r]) => scoreTokens(p, r))));
  const peer = runPeer(tokenized);
  // The target's comparison: the same pre-segmented input on both sides (jieba has no Python counterpart here).
  const ratio = peer ? scoringOnly.samplesPerSecond / peer.samplesPerSecond : null;
  const withSegmentationRatio = peer ? full.samplesPerSecond / peer.samplesPerSecond : null;
  const agreement = peer ? maxDifference(full.result, peer.means) : null;

  console.log(
    `metrics benchmark: ${PAIRS} Chinese pairs, ${Math.min(...chars)}-${Math.max(...chars)} characters ` +
      `(mean ${round(mean(chars))}), ${round(mean(tokens))} tokens per text after the pipeline; median of ${RUNS} runs`,
  );
  console.log(`ours, jieba + scoring:             ${round(full.samplesPerSecond)} samples/s`);
  console.log(`ours, scoring only (pre-segmented): ${round(scoringOnly.samplesPerSecond)} samples/s`);
  if (peer) {
    console.log(
      `python peer (nltk + plain Python, pre-segmented): ${round(peer.samplesPerSecond)} samples/s`,
    );
    console.log(`ratio (same pre-segmented input): ${round(ratio!, 2)}x, target ${TARGET}x`);
    console.log(`ratio (ours segmenting with jieba too / peer): ${round(withSegmentationRatio!, 2)}x`);
    console.log(`largest difference between our means and the peer's: ${agreement!.toExponential(2)}`);
  }
  console.log(
    JSON.stringify({
      pairs: PAIRS,
      samplesPerSecond: round(full.samplesPerSecond),
      scoringOnlySamplesPerSecond: round(scoringOnly.samplesPerSecond),
      peerSamplesPerSecond: peer ? round(peer.samplesPerSecond) : null,
      ratio: ratio === null ? null : round(ratio, 2),
      withSegmentationRatio: withSegmentationRatio === null ? null : round(withSegmentationRatio, 2),
      target: TARGET,
      maxMeanDifference: agreement,
      means: full.result,
    }),
  );
}

main();
