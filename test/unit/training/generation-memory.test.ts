/**
 * The generation memory estimate against measured peaks: one process per measurement (generation-peak.child.ts,
 * VmHWM, the checkpoint's pages counted once) runs the worker's Generator on a random LLaMA-style model, each case
 * dominated by one part of the estimate. The estimate must cover the peak without being loose by more than half
 * (or, where the process floor dominates, by more than 0.15 GiB). Figures measured on the project's 2-core machine
 * are in GENERATION_CALIBRATION's comment.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../src/errors';
import type { DemoModelOptions } from '../../../src/models/demo';
import type { HalfWeights } from '../../../src/models/generate';
import { sizeOf } from '../../../src/engine/graph';
import { loadModel, resolveAdapter } from '../../../src/models/model';
import {
  GENERATION_CALIBRATION,
  GIB,
  checkGenerationMemory,
  estimateGeneration,
  parameterCount,
  shapeOf,
  type GenerationMemoryJob,
} from '../../../src/training/memory-plan';
import { QWEN2_0_5B, WEIGHTY } from '../../helpers/model-shapes';

const CHILD = path.join(__dirname, 'generation-peak.child.ts');

function child(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`generation-peak.child.ts failed: ${r.stderr}`);
  return r.stdout;
}

function peakBytes(dir: string, run: number[], half: HalfWeights, loraRank: number): number {
  const [, , newTokens] = run;
  const stdout = child([dir, ...run.map(String), half, String(loraRank)]);
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as { peakKiB: number; generated: number };
  expect(out.generated).toBe(newTokens);
  return out.peakKiB * 1024;
}

/** 8 layers of 8 key/value heads of 64: the KV cache dominates. */
const CACHE_HEAVY = {
  hiddenSize: 512,
  numLayers: 8,
  numHeads: 8,
  numKeyValueHeads: 8,
  intermediateSize: 512,
  vocabSize: 512,
};

let root: string;
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-generation-peak-'))));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const BF16 = { ...WEIGHTY, dtype: 'BF16' } as const;

/** Each case: the model, batch x (prompt + new tokens), the Generator's halfWeights, a LoRA's rank (0: none). */
test.each<[string, DemoModelOptions, [number, number, number], HalfWeights, number]>([
  ['float32 weights', WEIGHTY, [1, 16, 16], 'fold', 0],
  ['bfloat16 weights (the decode session folds a float32 copy)', BF16, [1, 16, 16], 'fold', 0],
  ['bfloat16 weights (cast at each use)', BF16, [1, 16, 16], 'cast', 0],
  ['a LoRA adapter (rank 512 on every linear layer)', WEIGHTY, [1, 16, 16], 'fold', 512],
  ['the KV cache', CACHE_HEAVY, [16, 16, 16], 'fold', 0],
  ['the prefill attention scores', {}, [8, 512, 16], 'fold', 0],
])('the estimate covers the measured peak where %s dominate', async (_, options, run, half, loraRank) => {
  const dir = path.join(root, String(fs.readdirSync(root).length));
  child(['write', dir, JSON.stringify({ ...options, maxPositionEmbeddings: 1024 })]);
  const model = await loadModel(dir);
  const [batchSize, promptWidth, maxNewTokens] = run;
  const lora = { kind: 'lora', r: loraRank, alpha: 16, dropout: 0, targets: 'all-linear' } as const;
  const adapter = loraRank ? resolveAdapter(model, lora, () => 0.5).weights : null;
  const estimate = estimateGeneration(
    {
      shape: shapeOf(model.config),
      parameters: parameterCount(model),
      batchSize,
      promptWidth,
      maxNewTokens,
      virtualTokens: 0,
      copiedParameters: adapter ? adapter.names().reduce((s, n) => s + sizeOf(adapter.shape(n)), 0) : 0,
    },
    half,
  ).totalBytes;
  const measured = peakBytes(dir, run, half, loraRank);
  expect(estimate).toBeGreaterThanOrEqual(measured);
  expect(estimate).toBeLessThanOrEqual(Math.max(1.5 * measured, measured + 0.15 * GIB));
});

/** Qwen2-0.5B's shape in bfloat16. */
const QWEN: GenerationMemoryJob = {
  shape: { ...QWEN2_0_5B, weightBytes: 2 },
  parameters: 494e6,
  batchSize: 32,
  promptWidth: 512,
  maxNewTokens: 512,
  virtualTokens: 0,
};

test('a generation over the budget is refused with the estimate, the budget and what fits', () => {
  const budget = 8 * GIB;
  // The refusal states the smaller estimate: its weights cast at each use.
  const total = estimateGeneration(QWEN, 'cast').totalBytes;
  expect(total).toBeGreaterThan(budget);
  let err: unknown;
  try {
    checkGenerationMemory(QWEN, budget, 'evaluation');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserInputError);
  const u = err as UserInputError;
  expect(u.code).toBe('MEMORY_BUDGET_EXCEEDED');
  expect(u.path).toEqual(['batchSize']);
  const m = /lower it: batchSize (\d+), or maxNewTokens (\d+)$/.exec(u.message);
  expect(u.message).toContain(`needs an estimated ${(total / GIB).toFixed(1)} GiB`);
  expect(u.message).toContain('budget of 8.0 GiB');
  expect(m).not.toBeNull();
  // Each suggestion is the largest that fits.
  const [batch, tokens] = [Number(m![1]), Number(m![2])];
  expect(() => checkGenerationMemory({ ...QWEN, batchSize: batch }, budget, 'evaluation')).not.toThrow();
  expect(() => checkGenerationMemory({ ...QWEN, batchSize: batch + 1 }, budget, 'evaluation')).toThrow();
  expect(() => checkGenerationMemory({ ...QWEN, maxNewTokens: tokens }, budget, 'evaluation')).not.toThrow();
  expect(() => checkGenerationMemory({ ...QWEN, maxNewTokens: tokens + 1 }, budget, 'evaluation')).toThrow();
  // A generation has one prompt: only maxNewTokens to lower; where nothing fits, the message says so.
  expect(() =>
    checkGenerationMemory({ ...QWEN, batchSize: 1, maxNewTokens: 30_000 }, 4 * GIB, 'generation'),
  ).toThrow(/^this generation needs .* lower it: maxNewTokens \d+$/);
  expect(() => checkGenerationMemory(QWEN, 2 * GIB, 'generation')).toThrow(
    /; no maxNewTokens fits: use a smaller model or a worker with more memory$/,
  );
  expect(() => checkGenerationMemory(QWEN, 2 * GIB, 'evaluation')).toThrow(
    /; no batch size or maxNewTokens fits: use a smaller model or a worker with more memory$/,
  );
});

test('the estimate grows with every dimension of the run', () => {
  const base = estimateGeneration(QWEN).totalBytes;
  for (const over of [{ batchSize: 33 }, { promptWidth: 600 }, { maxNewTokens: 600 }, { virtualTokens: 64 }])
    expect(estimateGeneration({ ...QWEN, ...over }).totalBytes).toBeGreaterThan(base);
  // float32 weights are mapped once; 16-bit ones are mapped, and folded into one float32 copy or cast at each use.
  const f32 = estimateGeneration({ ...QWEN, shape: { ...QWEN.shape, weightBytes: 4 } }).parts.weights;
  const head = GENERATION_CALIBRATION.castCopies * QWEN.shape.vocabSize * QWEN.shape.hiddenSize * 4;
  expect(estimateGeneration(QWEN, 'fold').parts.weights).toBe(1.5 * f32);
  expect(estimateGeneration(QWEN, 'cast').parts.weights).toBe(0.5 * f32 + head);
});

test('16-bit weights are folded where the float32 copy fits, else cast at each use', () => {
  const [fold, cast] = (['fold', 'cast'] as const).map((h) => estimateGeneration(QWEN, h).totalBytes);
  expect(checkGenerationMemory(QWEN, fold, 'evaluation').halfWeights).toBe('fold');
  expect(checkGenerationMemory(QWEN, fold - 1, 'evaluation')).toEqual({
    halfWeights: 'cast',
    estimate: estimateGeneration(QWEN, 'cast'),
  });
  expect(() => checkGenerationMemory(QWEN, cast - 1, 'evaluation')).toThrow(UserInputError);
});
