import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/autodiff';
import { Graph } from '../../../src/engine/graph';
import * as op from '../../../src/engine/ops';
import { oversizedTensors } from '../../../src/engine/binding-size';
import {
  AppendAdamWOptions,
  ADAMW_DEFAULTS,
  AdamWConfig,
  adamWFeeds,
  adamWStepHost,
  appendAdamW,
  clipGradNormHost,
  stateNames,
} from '../../../src/engine/optim';
import { Feed, Session, createSession } from '../../../src/engine/session';
import { randn } from './helpers';

interface ParamSpec {
  name: string;
  shape: number[];
  decayed: boolean;
}

/** A training-step graph: loss, its gradients, clipping and AdamW. */
function stepGraph(
  specs: ParamSpec[],
  lossOf: (g: Graph, ps: ReturnType<Graph['param']>[]) => ReturnType<typeof op.add>,
  cfg: AdamWConfig,
  maxNorm: number | null,
  opts: AppendAdamWOptions = {},
): Graph {
  const g = new Graph();
  const params = specs.map((s) => g.param(s.name, s.shape));
  const loss = lossOf(g, params);
  g.output('loss', loss);
  const grads = gradients(loss, params);
  appendAdamW(
    params.map((param, i) => ({ param, grad: grads[i], decayed: specs[i].decayed })),
    cfg,
    maxNorm,
    opts,
  );
  return g;
}

/** The step graph's session. */
function stepSession(
  specs: ParamSpec[],
  lossOf: (g: Graph, ps: ReturnType<Graph['param']>[]) => ReturnType<typeof op.add>,
  cfg: AdamWConfig,
  maxNorm: number | null,
  flat = false,
) {
  return createSession(stepGraph(specs, lossOf, cfg, maxNorm, { flat }));
}

/** Run `steps` optimizer steps, carrying weights and moments from one step's outputs to the next's feeds. */
async function train(
  session: Session,
  specs: ParamSpec[],
  init: Float32Array[],
  steps: number,
  lr: number,
  cfg: AdamWConfig,
) {
  const state: Record<string, Feed> = {};
  specs.forEach((s, i) => {
    const names = stateNames(s.name);
    state[s.name] = init[i];
    state[names.expAvgIn] = new Float32Array(init[i].length);
    state[names.expAvgSqIn] = new Float32Array(init[i].length);
  });
  const log: { loss: number; norm: number }[] = [];
  for (let step = 1; step <= steps; step++) {
    const out = await session.run({ ...state, ...adamWFeeds(step, lr, cfg) });
    log.push({ loss: Number(out.loss.data[0]), norm: Number(out.grad_norm.data[0]) });
    specs.forEach((s) => {
      const names = stateNames(s.name);
      state[s.name] = out[names.param] as ort.Tensor;
      state[names.expAvgIn] = out[names.expAvg];
      state[names.expAvgSqIn] = out[names.expAvgSq];
    });
  }
  const weights = specs.map((s) => Array.from((state[s.name] as ort.Tensor).data as Float32Array));
  return { log, weights };
}

/** Two runs agree to float32 rounding (the flat update sums the gradient norm in another order). */
function expectSameRun(a: Awaited<ReturnType<typeof train>>, b: Awaited<ReturnType<typeof train>>): void {
  const close = (x: number, y: number) =>
    expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(y)));
  a.log.forEach((e, i) => {
    close(e.loss, b.log[i].loss);
    close(e.norm, b.log[i].norm);
  });
  a.weights.forEach((w, i) => w.forEach((v, j) => close(v, b.weights[i][j])));
}

describe('AdamW and gradient clipping', () => {
  test('match values computed by torch.optim.AdamW and clip_grad_norm_ (torch 1.13, float32)', async () => {
    // loss = sum(a^3) + a[0] * sum(b * [2, -3]); a decays (wd 0.1), b does not. lr 0.05, clip 1.0.
    const specs = [
      { name: 'a', shape: [3], decayed: true },
      { name: 'b', shape: [1, 2], decayed: false },
    ];
    const cfg = { ...ADAMW_DEFAULTS, weightDecay: 0.1 };
    const session = await stepSession(
      specs,
      (g, [a, b]) => {
        const cubes = op.reduceSum(op.pow(a, 3), [0]);
        const a0 = op.slice(a, [0], [1]); // (1)
        const bw = op.reduceSum(op.mul(b, g.constant([2, -3], 'float32', [1, 2])), [0, 1]);
        return op.add(cubes, op.mul(op.reshape(a0, []), bw));
      },
      cfg,
      1.0,
    );
    const { log, weights } = await train(
      session,
      specs,
      [new Float32Array([0.5, -1, 2]), new Float32Array([0.25, -0.75])],
      3,
      0.05,
      cfg,
    );
    const torchNorms = [12.980755805969238, 12.265110969543457, 11.602789878845215];
    const torchLosses = [8.5, 7.3685832023620605, 6.305048942565918];
    log.forEach(({ loss, norm }, i) => {
      expect(norm).toBeCloseTo(torchNorms[i], 5);
      expect(loss).toBeCloseTo(torchLosses[i], 5);
    });
    const torchA = [0.3437190651893616, -1.1345415115356445, 1.8209242820739746];
    const torchB = [0.10036345571279526, -0.6003634333610535];
    weights[0].forEach((v, i) => expect(v).toBeCloseTo(torchA[i], 6));
    weights[1].forEach((v, i) => expect(v).toBeCloseTo(torchB[i], 6));
    await session.release();
  });

  test('the graph update equals the float64 host reference over several steps, with and without clipping', async () => {
    const specs = [
      { name: 'w', shape: [4, 3], decayed: true },
      { name: 'bias', shape: [4], decayed: false },
    ];
    const x = randn([5, 3], 3);
    const target = randn([5, 4], 4);
    const cfg = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.05 };
    for (const maxNorm of [0.5, null]) {
      // loss = mean((x @ w^T + bias - target)^2)
      const session = await stepSession(
        specs,
        (g, [w, bias]) => {
          const y = op.gemm(g.constant(x, 'float32', [5, 3]), w, bias, { transB: true });
          return op.reduceMean(op.pow(op.sub(y, g.constant(target, 'float32', [5, 4])), 2), [0, 1]);
        },
        cfg,
        maxNorm,
      );
      const init = [randn([4, 3], 5), randn([4], 6)];
      const { log, weights } = await train(session, specs, init, 4, 0.03, cfg);

      const w = Float64Array.from(init[0]);
      const b = Float64Array.from(init[1]);
      const moments = [new Float64Array(12), new Float64Array(12), new Float64Array(4), new Float64Array(4)];
      for (let step = 1; step <= 4; step++) {
        const gw = new Float64Array(12);
        const gb = new Float64Array(4);
        for (let n = 0; n < 5; n++) {
          for (let o = 0; o < 4; o++) {
            let y = b[o];
            for (let i = 0; i < 3; i++) y += x[n * 3 + i] * w[o * 3 + i];
            const d = (2 * (y - target[n * 4 + o])) / 20;
            gb[o] += d;
            for (let i = 0; i < 3; i++) gw[o * 3 + i] += d * x[n * 3 + i];
          }
        }
        const norm = maxNorm === null ? Math.hypot(...gw, ...gb) : clipGradNormHost([gw, gb], maxNorm).norm;
        expect(log[step - 1].norm).toBeCloseTo(norm, 5);
        adamWStepHost(w, gw, moments[0], moments[1], step, 0.03, cfg, true);
        adamWStepHost(b, gb, moments[2], moments[3], step, 0.03, cfg, false);
      }
      weights[0].forEach((v, i) => expect(v).toBeCloseTo(w[i], 5));
      weights[1].forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
      await session.release();
    }
  });

  test('the flat update (parameters concatenated per group) gives the per-parameter results', async () => {
    const specs = [
      { name: 'w', shape: [4, 3], decayed: true },
      { name: 'bias', shape: [4], decayed: false },
      { name: 'v', shape: [2, 3], decayed: true },
      { name: 's', shape: [], decayed: false },
    ];
    const x = randn([5, 3], 7);
    const cfg = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.05 };
    // loss = sum((x @ w^T + bias) ^ 2) * s + sum((x @ v^T) ^ 3)
    const lossOf = (g: Graph, [w, bias, v, s]: ReturnType<Graph['param']>[]) => {
      const xs = g.constant(x, 'float32', [5, 3]);
      const y = op.gemm(xs, w, bias, { transB: true });
      const z = op.gemm(xs, v, undefined, { transB: true });
      return op.add(op.mul(op.reduceSum(op.pow(y, 2), [0, 1]), s), op.reduceSum(op.pow(z, 3), [0, 1]));
    };
    const init = [randn([4, 3], 8), randn([4], 9), randn([2, 3], 10), new Float32Array([0.7])];
    for (const maxNorm of [0.5, null]) {
      const runs = [];
      for (const flat of [false, true]) {
        const session = await stepSession(specs, lossOf, cfg, maxNorm, flat);
        runs.push(await train(session, specs, init, 3, 0.03, cfg));
        await session.release();
      }
      expectSameRun(runs[1], runs[0]);
    }
  });

  test('the flat update of more parameters than one Split may output on WebGPU (15) is still the same', async () => {
    // One group: every parameter has 3 columns.
    const specs = Array.from({ length: 40 }, (_, i) => ({ name: `p${i}`, shape: [i + 1, 3], decayed: true }));
    const cfg = { ...ADAMW_DEFAULTS, weightDecay: 0.1 };
    // loss = sum_i sum(p_i ^ 3) * (i + 1)
    const lossOf = (_g: Graph, ps: ReturnType<Graph['param']>[]) =>
      ps.map((p, i) => op.mul(op.reduceSum(op.pow(p, 3), [0, 1]), i + 1)).reduce((a, b) => op.add(a, b));
    const init = specs.map((s, i) => randn(s.shape, 20 + i));
    const runs = [];
    for (const flat of [false, true]) {
      const session = await stepSession(specs, lossOf, cfg, 1.0, flat);
      runs.push(await train(session, specs, init, 2, 0.05, cfg));
      await session.release();
    }
    expectSameRun(runs[1], runs[0]);
  });

  test('the flat update keeps each group within maxGroupBytes (a new group past it), with the same results', async () => {
    // 40 parameters of 3 columns, 12 to 480 bytes each, 9,840 in all: one group without a cap.
    const specs = Array.from({ length: 40 }, (_, i) => ({ name: `p${i}`, shape: [i + 1, 3], decayed: true }));
    const cfg = { ...ADAMW_DEFAULTS, weightDecay: 0.1 };
    const lossOf = (_g: Graph, ps: ReturnType<Graph['param']>[]) =>
      ps.map((p, i) => op.mul(op.reduceSum(op.pow(p, 3), [0, 1]), i + 1)).reduce((a, b) => op.add(a, b));
    // Above the norm's 820 row sums (3,280 bytes), which the update concatenates whatever the groups.
    const limit = 4000;
    const uncapped = stepGraph(specs, lossOf, cfg, 1.0, { flat: true, maxGroupBytes: Infinity });
    expect(oversizedTensors(uncapped, limit).length).toBeGreaterThan(0);
    const capped = stepGraph(specs, lossOf, cfg, 1.0, { flat: true, maxGroupBytes: limit });
    expect(oversizedTensors(capped, limit)).toEqual([]);
    const init = specs.map((s, i) => randn(s.shape, 20 + i));
    const runs = [];
    for (const g of [stepGraph(specs, lossOf, cfg, 1.0), capped]) {
      const session = await createSession(g);
      runs.push(await train(session, specs, init, 2, 0.05, cfg));
      await session.release();
    }
    expectSameRun(runs[1], runs[0]);
  });

  test('clipping scales by maxNorm / (norm + 1e-6) only when the norm exceeds maxNorm', () => {
    const big = [new Float64Array([3, 4])];
    expect(clipGradNormHost(big, 1)).toEqual({ norm: 5, coef: 1 / (5 + 1e-6) });
    expect(big[0][0]).toBeCloseTo(0.6, 6);
    const small = [new Float64Array([0.3, 0.4])];
    expect(clipGradNormHost(small, 1).coef).toBe(1);
    expect(Array.from(small[0])).toEqual([0.3, 0.4]);
  });
});
