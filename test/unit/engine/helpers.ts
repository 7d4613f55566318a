/** Deterministic standard-normal data (Box-Muller over a small LCG) so tests are reproducible. */
export function randn(shape: readonly number[], seed: number, scale = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let state = (seed * 2654435761) >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}
