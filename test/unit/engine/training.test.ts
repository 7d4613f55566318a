import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/autodiff';
import { Graph } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import { ADAMW_DEFAULTS, adamWFeeds, appendAdamW } from '../../../src/engine/optim';
import { Feed, createSession } from '../../../src/engine/session';
import { randn } from './helpers';

test('the README example trains a linear classifier: the loss falls by more than 95%', async () => {
  const [n, inF, classes] = [8, 16, 4];
  const g = new Graph();
  const x = g.input('x', [n, inF], 'float32'); // (N, in)
  const labels = g.input('labels', [n], 'int64');
  const w = g.param('w', [classes, inF]);
  const b = g.param('b', [classes]);
  const loss = nn.crossEntropy(nn.linear(x, w, b), labels);
  g.output('loss', loss);
  const [gw, gb] = gradients(loss, [w, b]);
  const cfg = ADAMW_DEFAULTS;
  appendAdamW(
    [
      { param: w, grad: gw, decayed: true },
      { param: b, grad: gb, decayed: false },
    ],
    cfg,
    1.0,
  );
  const session = await createSession(g, { executionProvider: 'cpu', threads: 1 });

  const xData = randn([n, inF], 1);
  const labelData = BigInt64Array.from([0, 1, 2, 3, 0, 1, 2, -100].map(BigInt));
  const state: Record<string, Feed> = {
    w: randn([classes, inF], 2, 0.1),
    b: new Float32Array(classes),
    'w.exp_avg': new Float32Array(classes * inF),
    'w.exp_avg_sq': new Float32Array(classes * inF),
    'b.exp_avg': new Float32Array(classes),
    'b.exp_avg_sq': new Float32Array(classes),
  };
  const losses: number[] = [];
  for (let step = 1; step <= 60; step++) {
    const out = await session.run({ x: xData, labels: labelData, ...state, ...adamWFeeds(step, 0.05, cfg) });
    losses.push(Number(out.loss.data[0]));
    for (const name of ['w', 'b']) {
      state[name] = out[`${name}.next`] as ort.Tensor;
      state[`${name}.exp_avg`] = out[`${name}.exp_avg.next`];
      state[`${name}.exp_avg_sq`] = out[`${name}.exp_avg_sq.next`];
    }
  }
  expect(losses[0]).toBeGreaterThan(1); // about ln 4 at the start
  expect(losses[59]).toBeLessThan(0.05 * losses[0]);
  await session.release();
});
