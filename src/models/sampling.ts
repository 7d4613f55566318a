/**
 * Choosing the next token on the host from one row of logits: greedy (argmax, first maximum as torch.argmax), or
 * sampling as transformers' generate does it: logits / temperature, then top-p (nucleus) filtering, then a draw.
 */

export interface SamplingOptions {
  /** > 0; 1 leaves the distribution unchanged. */
  temperature: number;
  /** (0, 1]; keep the most likely tokens whose probabilities sum to at least top-p (at least one). */
  topP: number;
}

/** Index of the largest value of logits[offset, offset + n). */
export function argmax(logits: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[offset + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** Draw a token from logits[offset, offset + n) with `random` uniform in [0, 1). */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  n: number,
  opts: SamplingOptions,
  random: () => number,
): number {
  const max = logits[offset + argmax(logits, offset, n)];
  const probs = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = Math.exp((logits[offset + i] - max) / opts.temperature);
    total += probs[i];
  }
  if (opts.topP >= 1) return drawInIndexOrder(probs, random() * total);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  // Nucleus: a token stays while the mass of the tokens ranked above it is below top-p (transformers' TopPLogitsWarper).
  const kept: number[] = [];
  let before = 0;
  for (const i of order) {
    if (kept.length > 0 && before >= opts.topP * total) break;
    kept.push(i);
    before += probs[i];
  }
  let u = random() * before;
  for (const i of kept) {
    u -= probs[i];
    if (u < 0) return i;
  }
  return kept[kept.length - 1];
}

/** Without top-p filtering every token stays, so the draw needs no ranking (sorting the vocabulary was most of RL's time). */
function drawInIndexOrder(probs: Float64Array, u: number): number {
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u < 0) return i;
  }
  return probs.length - 1;
}
