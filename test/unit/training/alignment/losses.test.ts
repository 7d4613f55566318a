/**
 * The preference losses on small graphs against values computed by hand (and their gradients, since the
 * trajectories depend on them): log-sigmoid (stable at +-100, gradient 1/2 at 0), the pairwise loss, summed
 * response log-probabilities and the DPO terms.
 */
import { gradients } from '../../../../src/engine/autodiff';
import { Graph, Tensor } from '../../../../src/engine/graph';
import * as op from '../../../../src/engine/ops';
import { createSession } from '../../../../src/engine/session';
import {
  dpoTerms,
  logSigmoid,
  pairwiseLoss,
  preferenceMetricSums,
  sequenceLogProbs,
} from '../../../../src/training/alignment/losses';

async function run(g: Graph, feeds: Record<string, Float32Array | BigInt64Array>) {
  const session = await createSession(g, { threads: 1 });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

function expectClose(actual: number[], expected: number[], tol = 1e-6) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) =>
    expect(Math.abs(a - expected[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i]))),
  );
}

test('logSigmoid is finite at +-100 and has the gradient sigmoid(-x), 1/2 at 0', async () => {
  const g = new Graph();
  const x = g.param('x', [5]);
  const y = logSigmoid(x);
  g.output('y', y);
  g.output('dx', gradients(op.reduceSum(y, [0]), [x])[0]);
  const out = await run(g, { x: Float32Array.from([-100, -1, 0, 2, 100]) });
  // log(1 / (1 + e^-x)) by hand: -100 - log(1 + e^-100), -1 - log(1 + e^-1), -log 2, -log(1 + e^-2), ~0
  expectClose(out.y, [-100, -1.3132616875, -0.6931471806, -0.126928011, 0]);
  expectClose(out.dx, [1, 0.7310585786, 0.5, 0.119202922, 0]);
});

test('pairwiseLoss and the preference metrics', async () => {
  const g = new Graph();
  const c = g.input('c', [3], 'float32');
  const r = g.input('r', [3], 'float32');
  g.output('loss', pairwiseLoss(c, r));
  const m = preferenceMetricSums(c, r);
  g.output('acc', m.accuracy);
  g.output('margin', m.margin);
  const out = await run(g, { c: Float32Array.from([1, 0, 2]), r: Float32Array.from([0, 0, 3]) });
  // margins 1, 0, -1: -log(sigmoid(m)) = log(1 + e^-m)
  expectClose(out.loss, [0.3132616875, 0.6931471806, 1.3132616875]);
  expect(out.acc).toEqual([1]); // only the strictly positive margin counts
  expectClose(out.margin, [0]);
});

test('sequenceLogProbs sums log p(target) over targets that are not -100', async () => {
  const g = new Graph();
  const logits = g.input('logits', [2, 2, 3], 'float32'); // (B, T, V)
  const targets = g.input('targets', [2, 2], 'int64');
  g.output('lp', sequenceLogProbs(logits, targets));
  const out = await run(g, {
    // row 0: uniform logits at both positions; row 1: [ln 1, ln 2, ln 1] then anything
    logits: Float32Array.from([0, 0, 0, 5, 5, 5, 0, Math.log(2), 0, 9, 1, 3]),
    targets: BigInt64Array.from([0n, 2n, 1n, -100n]),
  });
  // row 0: 2 * log(1/3); row 1: log(2/4), the second position ignored
  expectClose(out.lp, [2 * Math.log(1 / 3), Math.log(0.5)]);
});

test('dpoTerms: implicit rewards beta * (pi - ref) and -logsigmoid of their difference', async () => {
  const g = new Graph();
  const t = (name: string): Tensor => g.input(name, [2], 'float32');
  const terms = dpoTerms({ chosen: t('pc'), rejected: t('pr') }, { chosen: t('rc'), rejected: t('rr') }, 0.5);
  g.output('loss', terms.losses);
  g.output('cr', terms.chosenRewards);
  g.output('rr_', terms.rejectedRewards);
  const out = await run(g, {
    pc: Float32Array.from([-10, -3]),
    pr: Float32Array.from([-12, -1]),
    rc: Float32Array.from([-11, -3]),
    rr: Float32Array.from([-11, -2]),
  });
  // pair 0: rewards 0.5 * 1 = 0.5 and 0.5 * -1 = -0.5, margin 1; pair 1: 0 and 0.5, margin -0.5
  expectClose(out.cr, [0.5, 0]);
  expectClose(out.rr_, [-0.5, 0.5]);
  expectClose(out.loss, [Math.log(1 + Math.exp(-1)), Math.log(1 + Math.exp(0.5))]);
});
