/**
 * The RL loss pieces against hand-computed values: group-relative advantages, and the clipped-ratio objective
 * with the k3 KL term per token (values, the clip indicator and the gradient with respect to the policy's
 * log-probabilities, which is zero where the clipped branch is active).
 */
import { gradients } from '../../../../src/engine/autodiff';
import { Graph } from '../../../../src/engine/graph';
import * as op from '../../../../src/engine/ops';
import { createSession } from '../../../../src/engine/session';
import { groupAdvantages, rewardStats } from '../../../../src/training/alignment/rl/advantages';
import { clippedPolicyLoss } from '../../../../src/training/alignment/rl/policy-loss';

const close = (a: number, b: number, tol = 1e-6) => expect(Math.abs(a - b)).toBeLessThanOrEqual(tol);

test('groupAdvantages: (r - group mean) / (unbiased group std + eps), group by group', () => {
  // group [1, 2, 6]: mean 3, deviations -2, -1, 3, variance (4 + 1 + 9) / 2 = 7, std sqrt(7) = 2.6457513
  // group [5, 5, 5]: std 0, every advantage 0
  const adv = groupAdvantages([1, 2, 6, 5, 5, 5], 3, 1e-4);
  const s = Math.sqrt(7) + 1e-4;
  [-2 / s, -1 / s, 3 / s, 0, 0, 0].forEach((v, i) => close(adv[i], v));
  expect(() => groupAdvantages([1, 2, 3], 2)).toThrow(/groups of 2/);
  expect(() => groupAdvantages([1, 2], 1)).toThrow(/at least 2/);
});

test('rewardStats: mean and unbiased standard deviation', () => {
  const s = rewardStats([1, 2, 6]);
  close(s.mean, 3);
  close(s.std, Math.sqrt(7));
  expect(rewardStats([4]).std).toBe(0);
});

test('clippedPolicyLoss: per-token loss, k3 KL, clip indicator and gradient', async () => {
  const g = new Graph();
  const logp = g.param('logp', [2, 2]);
  const terms = clippedPolicyLoss(
    {
      logp,
      oldLogp: g.input('old', [2, 2], 'float32'),
      refLogp: g.input('ref', [2, 2], 'float32'),
      advantages: g.input('adv', [2], 'float32'),
    },
    { clipEpsilon: 0.2, klCoef: 0.1 },
  );
  g.output('loss', terms.loss);
  g.output('kl', terms.kl);
  g.output('clipped', terms.clipped);
  g.output('grad', gradients(op.reduceSum(terms.loss, [0, 1]), [logp])[0]);
  const session = await createSession(g, { threads: 1 });
  const out = await session.run({
    logp: Float32Array.from([-1.0, -0.5, -2.0, -0.3]),
    old: Float32Array.from([-1.0, -0.8, -1.5, -0.3]),
    ref: Float32Array.from([-1.2, -0.5, -2.0, -0.1]),
    adv: Float32Array.from([1.0, -0.5]),
  });
  await session.release();
  const read = (name: string) => Array.from(out[name].data as Float32Array);
  // (0,0): ratio 1, A 1: surrogate 1; ref - logp = -0.2: k3 = e^-0.2 + 0.2 - 1 = 0.0187307531
  // (0,1): ratio e^0.3 = 1.3498588 > 1.2 with A 1: clipped to 1.2; k3 0
  // (1,0): ratio e^-0.5 = 0.6065307 < 0.8 with A -0.5: clipped, min(-0.3032653, -0.4) = -0.4; k3 0
  // (1,1): ratio 1, A -0.5: surrogate -0.5; ref - logp = 0.2: k3 = e^0.2 - 0.2 - 1 = 0.0214027582
  const k3a = Math.exp(-0.2) + 0.2 - 1;
  const k3b = Math.exp(0.2) - 0.2 - 1;
  [-1 + 0.1 * k3a, -1.2, 0.4, 0.5 + 0.1 * k3b].forEach((v, i) => close(read('loss')[i], v));
  [k3a, 0, 0, k3b].forEach((v, i) => close(read('kl')[i], v));
  expect(read('clipped')).toEqual([0, 1, 1, 0]);
  // d loss / d logp = -ratio * A (unclipped tokens only) + klCoef * (1 - e^(ref - logp))
  [-1 + 0.1 * (1 - Math.exp(-0.2)), 0, 0, 0.5 + 0.1 * (1 - Math.exp(0.2))].forEach((v, i) =>
    close(read('grad')[i], v),
  );
});
