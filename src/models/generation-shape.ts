/**
 * The shapes a Generator runs a request with (the prompt width and the cache slots, rounded up so that requests of
 * similar sizes share sessions), so the memory estimate (training/memory-plan.ts) sizes what really runs.
 */

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
