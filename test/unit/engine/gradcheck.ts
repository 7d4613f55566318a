import { gradients } from '../../../src/engine/autodiff';
import { Graph, Tensor } from '../../../src/engine/graph';
import * as op from '../../../src/engine/ops';
import { createSession } from '../../../src/engine/session';
import { randn } from './helpers';

export interface GradCase {
  /** The gradient rule (op type) this case exercises. */
  rule: string;
  label: string;
  /** Shapes of the differentiated float32 params. */
  shapes: number[][];
  build: (g: Graph, params: Tensor[]) => Tensor;
  /** Param data (default: standard normal); keep away from kinks and domain edges. */
  init?: (i: number, n: number, seed: number) => Float32Array;
}

/**
 * Central-difference check: loss = sum(out * R) for a fixed random R; analytic gradients and every perturbed
 * forward are computed by onnxruntime (float32), the differences in float64 on the host.
 */
export async function gradCheck(c: GradCase, eps = 1e-2): Promise<{ worst: number; checked: number }> {
  const g = new Graph();
  const params = c.shapes.map((s, i) => g.param(`p${i}`, s));
  const out = c.build(g, params);
  const r = g.constant(randn(out.shape, 99), 'float32', out.shape);
  const loss = out.rank === 0 ? op.mul(out, r) : op.reduceSum(op.mul(out, r), op.allAxes(out));
  g.output('loss', loss);
  gradients(loss, params).forEach((t, i) => g.output(`grad${i}`, t));

  const values = c.shapes.map((s, i) => {
    const n = s.reduce((a, b) => a * b, 1);
    return c.init ? c.init(i, n, 10 + i) : randn(s, 10 + i);
  });
  const feeds = () => Object.fromEntries(values.map((v, i) => [`p${i}`, v]));
  const full = await createSession(g);
  const forward = await createSession(g, { outputs: ['loss'] });
  const analytic = await full.run(feeds());
  const lossAt = async () => Number((await forward.run(feeds())).loss.data[0]);

  let worst = 0;
  let checked = 0;
  for (let i = 0; i < values.length; i++) {
    const grad = analytic[`grad${i}`].data as Float32Array;
    for (let j = 0; j < values[i].length; j++) {
      const x0 = values[i][j];
      values[i][j] = x0 + eps;
      const up = await lossAt();
      values[i][j] = x0 - eps;
      const down = await lossAt();
      values[i][j] = x0;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(numeric - grad[j]) / (5e-3 + 1e-2 * Math.abs(numeric));
      if (err > 1) {
        throw new Error(
          `${c.rule} (${c.label}): d loss/d p${i}[${j}] analytic ${grad[j]} vs numeric ${numeric}`,
        );
      }
      worst = Math.max(worst, err);
      checked++;
    }
  }
  await full.release();
  await forward.release();
  return { worst, checked };
}

/** Normal data pushed away from 0 (for Relu, Abs, Div, Log...). */
export const awayFromZero = (_: number, n: number, seed: number): Float32Array =>
  randn([n], seed).map((v) => Math.sign(v || 1) * (0.3 + Math.abs(v)));

export const positive = (_: number, n: number, seed: number): Float32Array =>
  randn([n], seed).map((v) => 0.5 + Math.abs(v));

/** Distinct values at least 0.1 apart, shuffled: no ties for Max/Min/ReduceMax under a 1e-2 perturbation. */
export const distinct = (i: number, n: number, seed: number): Float32Array => {
  const order = Array.from(randn([n], seed)).map((v, k) => [v, k] as const);
  order.sort((a, b) => a[0] - b[0]);
  const out = new Float32Array(n);
  order.forEach(([, k], rank) => (out[k] = (rank - n / 2) * 0.1 + i * 0.037));
  return out;
};
