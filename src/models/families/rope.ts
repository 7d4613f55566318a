/**
 * Rotary position embeddings as transformers computes them: the inverse frequencies of each `rope_type`
 * (modeling_rope_utils.py, in float32 step by step as torch does), the cos/sin tables, and their application.
 */
import { fused } from '../../engine/fused';
import { Graph, Tensor } from '../../engine/graph';
import * as op from '../../engine/ops';
import { RopeConfig, RopeScaling } from '../config';

const f32 = Math.fround;

/** 1 / theta^(2i/D) for i < D/2 (the default inverse frequencies). */
function defaultFrequencies(theta: number, headDim: number): number[] {
  return Array.from({ length: headDim / 2 }, (_, i) => f32(1 / f32(theta ** ((2 * i) / headDim))));
}

/** Llama 3.1+: low frequencies divided by `factor`, high ones kept, the band between blended smoothly. */
function llama3(inv: number[], s: Extract<RopeScaling, { type: 'llama3' }>): number[] {
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = f32((2 * Math.PI) / f);
    if (wavelen < highWavelen) return f;
    const scaled = f32(f / s.factor);
    if (wavelen > lowWavelen) return scaled;
    const smooth = f32(
      f32(f32(s.originalMaxPositions / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor),
    );
    return f32(f32(f32(f32(1 - smooth) * f) / s.factor) + f32(smooth * f));
  });
}

/** YaRN: interpolated (divided by `factor`) and extrapolated frequencies, blended over a band of dimensions. */
function yarn(theta: number, headDim: number, s: Extract<RopeScaling, { type: 'yarn' }>): number[] {
  // The dimension at which a frequency completes `rotations` turns over the pretraining length.
  const dimFor = (rotations: number) =>
    (headDim * Math.log(s.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = dimFor(s.betaFast);
  let high = dimFor(s.betaSlow);
  if (s.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  low = Math.max(low, 0);
  high = Math.min(high, headDim - 1);
  if (low === high) high += 0.001; // no zero-width band
  return Array.from({ length: headDim / 2 }, (_, i) => {
    const base = f32(theta ** f32((2 * i) / headDim));
    const extrapolated = f32(1 / base);
    const interpolated = f32(1 / f32(s.factor * base));
    const ramp = Math.min(Math.max(f32(f32(i - low) / (high - low)), 0), 1);
    const keep = f32(1 - ramp); // the extrapolated share
    return f32(f32(interpolated * f32(1 - keep)) + f32(extrapolated * keep));
  });
}

/** Inverse frequencies (D/2) and the factor cos and sin are multiplied by (YaRN's attention factor, else 1). */
export function ropeFrequencies(
  rope: RopeConfig,
  headDim: number,
): { invFreq: number[]; attentionFactor: number } {
  const s = rope.scaling;
  switch (s.type) {
    case 'default':
      return { invFreq: defaultFrequencies(rope.theta, headDim), attentionFactor: 1 };
    case 'linear':
      return {
        invFreq: defaultFrequencies(rope.theta, headDim).map((f) => f32(f / s.factor)),
        attentionFactor: 1,
      };
    case 'llama3':
      return { invFreq: llama3(defaultFrequencies(rope.theta, headDim), s), attentionFactor: 1 };
    case 'yarn':
      return { invFreq: yarn(rope.theta, headDim, s), attentionFactor: s.attentionFactor };
  }
}

/**
 * cos and sin tables (P, D) for positions 0..P-1, as transformers computes them in float32:
 * freqs = pos * inv_freq, emb = cat(freqs, freqs), cos(emb) and sin(emb) times the attention factor.
 */
export function ropeTables(
  rope: RopeConfig,
  headDim: number,
  positions: number,
): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const { invFreq, attentionFactor } = ropeFrequencies(rope, headDim);
  const factor = f32(attentionFactor);
  const cos = new Float32Array(positions * headDim);
  const sin = new Float32Array(positions * headDim);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(p * invFreq[i]);
      const c = factor === 1 ? Math.cos(angle) : f32(f32(Math.cos(angle)) * factor);
      const s = factor === 1 ? Math.sin(angle) : f32(f32(Math.sin(angle)) * factor);
      cos[p * headDim + i] = cos[p * headDim + i + half] = c;
      sin[p * headDim + i] = sin[p * headDim + i + half] = s;
    }
  }
  return { cos, sin };
}

/** Per-token RoPE factors (B or 1, T, 1, D), broadcasting over the heads of a (B, T, H, D) tensor. */
export interface Rope {
  cos: Tensor;
  sin: Tensor;
  /** sin with its first half negated (built so under `Graph.fuse`): rotate_half(x) sin = swapHalves(x) sin. */
  signedSin: boolean;
}

/** The rows of a (P, D) sin table with the first half of each negated. */
function signFirstHalves(table: Float32Array, headDim: number): Float32Array {
  return table.map((v, i) => (i % headDim < headDim / 2 ? -v : v));
}

/**
 * RoPE factors for a run. Without `positionIds` the positions are offset..offset+T-1 (the same for every row) and
 * the tables are constants; with them, rows of a constant table of `tableSize` positions are gathered.
 */
export function buildRope(
  g: Graph,
  rope: RopeConfig,
  headDim: number,
  t: number,
  where: { offset: number } | { positionIds: Tensor; tableSize: number },
): Rope {
  const signedSin = g.fuse;
  const tables = (positions: number) => {
    const { cos, sin } = ropeTables(rope, headDim, positions);
    return { cos, sin: signedSin ? signFirstHalves(sin, headDim) : sin };
  };
  if ('offset' in where) {
    const { cos, sin } = tables(where.offset + t);
    const rows = (table: Float32Array) => table.subarray(where.offset * headDim);
    return {
      cos: g.constant(rows(cos), 'float32', [1, t, 1, headDim]),
      sin: g.constant(rows(sin), 'float32', [1, t, 1, headDim]),
      signedSin,
    };
  }
  const { cos, sin } = tables(where.tableSize);
  const pick = (table: Float32Array) => {
    const rows = op.gather(g.constant(table, 'float32', [where.tableSize, headDim]), where.positionIds); // (B, T, D)
    return op.unsqueeze(rows, [2]); // (B, T, 1, D)
  };
  return { cos: pick(cos), sin: pick(sin), signedSin };
}

/** x (B, T, H, D) with the halves of its last axis swapped: cat(x2, x1), one Gather. */
function swapHalves(x: Tensor): Tensor {
  const d = x.shape[3];
  const order = Array.from({ length: d }, (_, i) => (i + d / 2) % d);
  return op.gather(x, x.graph.constant(order, 'int64', [d]), 3);
}

/**
 * x * cos + rotate_half(x) * sin for x (B, T, H, D), rotate_half(x) = cat(-x2, x1). With a signed sin table it is
 * a fused form x cos + swapHalves(x) sin, whose gradient is g cos + swapHalves(g sin) (swapping halves is its own
 * inverse), instead of the Gather's scatter-add.
 */
export function applyRope(x: Tensor, rope: Rope): Tensor {
  if (rope.signedSin) {
    return fused([x], ([xi]) => ({
      outputs: [op.add(op.mul(xi, rope.cos), op.mul(swapHalves(xi), rope.sin))],
      gradient: ([g]) => [op.add(op.mul(g as Tensor, rope.cos), swapHalves(op.mul(g as Tensor, rope.sin)))],
    }))[0];
  }
  const d = x.shape[3];
  const [x1, x2] = op.split(x, [d / 2, d / 2], 3);
  const rotated = op.concat([op.neg(x2), x1], 3);
  return op.add(op.mul(x, rope.cos), op.mul(rotated, rope.sin));
}
