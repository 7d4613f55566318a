/**
 * The shapes a Generator runs a request with (the prompt width and the cache slots, rounded up so that requests of
 * similar sizes share sessions), so the memory estimate (training/memory-plan.ts) sizes what really runs.
 */
import { promptRoom } from '../data/examples';

/** Multiples the prompt width and the cache slots are rounded up to (GeneratorOptions.buckets). */
export interface GenerationBuckets {
  prompt: number;
  slots: number;
}

export const DEFAULT_BUCKETS: GenerationBuckets = { prompt: 16, slots: 64 };

const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/** The padded prompt width and the cache slots ([virtual | prompt | generated]) of one generate call. */
export function generationShape(
  r: { promptWidth: number; virtualTokens: number; maxNewTokens: number },
  buckets: GenerationBuckets = DEFAULT_BUCKETS,
): { width: number; slots: number } {
  const width = roundUp(r.promptWidth, buckets.prompt);
  return { width, slots: roundUp(r.virtualTokens + width + r.maxNewTokens, buckets.slots) };
}

/** Smallest power of two >= n (at least 8), capped at `max`: the padded prompt width of an evaluation's batch. */
export function bucketWidth(n: number, max: number): number {
  let w = 8;
  while (w < n) w *= 2;
  return Math.max(n, Math.min(w, max));
}

/**
 * The padded prompt width of an evaluation's batch (run-evaluation.ts `generateAndScore`, and evalMetricsAtEpochEnd's
 * generation during training) whose longest prompt has `longest` tokens, within what the run leaves.
 */
export function batchWidth(
  longest: number,
  maxPositions: number,
  virtualTokens: number,
  maxNewTokens: number,
): number {
  return bucketWidth(longest, promptRoom(maxPositions, virtualTokens, maxNewTokens));
}
