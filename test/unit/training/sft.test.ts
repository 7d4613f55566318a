import { Graph, Tensor } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import * as op from '../../../src/engine/ops';
import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import { collateSft } from '../../../src/training/batches';
import { SftExample } from '../../../src/data/examples';
import { HostTensor } from '../../../src/training/objective';
import { CausalLMForward } from '../../../src/training/parameterization';
import { SftObjective } from '../../../src/training/sft';
import { TrainState } from '../../../src/training/train-state';
import { Trainer } from '../../../src/training/trainer';
import { values } from './linear-objective';

const [V, C] = [11, 4];

/** A bigram model: logits = head(embed(ids)); enough to check the loss wiring against a host computation. */
const bigram: CausalLMForward = (g: Graph, { inputIds }) => {
  const embed = g.param('embed', [V, C]);
  const head = g.param('head', [V, C]);
  const logits = nn.linear(op.gather(embed, inputIds), head); // (B, T, V)
  return {
    logits,
    params: new Map<string, Tensor>([
      ['embed', embed],
      ['head', head],
    ]),
  };
};
const initial = new Map<string, HostTensor>([
  ['embed', { data: values(V * C, 3), shape: [V, C], dtype: 'float32' }],
  ['head', { data: values(V * C, 5), shape: [V, C], dtype: 'float32' }],
]);

const examples: SftExample[] = [
  { inputIds: [1, 5, 6, 7, 2], labels: [-100, -100, 6, 7, 2] },
  { inputIds: [1, 3, 4, 2], labels: [-100, 3, 4, 2] },
  { inputIds: [1, 8, 9, 10, 3, 2], labels: [-100, -100, -100, 10, 3, 2] },
];

/** Mean next-token cross-entropy over labelled targets, in float64 on the host. */
function hostLoss(batch: SftExample[]): number {
  const e = initial.get('embed')!.data as Float32Array;
  const h = initial.get('head')!.data as Float32Array;
  let sum = 0;
  let n = 0;
  for (const ex of batch) {
    for (let t = 0; t + 1 < ex.inputIds.length; t++) {
      const target = ex.labels[t + 1];
      if (target === -100) continue;
      const x = ex.inputIds[t];
      const logits = Array.from({ length: V }, (_, v) => {
        let s = 0;
        for (let c = 0; c < C; c++) s += e[x * C + c] * h[v * C + c];
        return s;
      });
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0));
      sum += lse - logits[target];
      n++;
    }
  }
  return sum / n;
}

function trainer(): Trainer {
  const objective = new SftObjective(bigram, initial);
  return new Trainer(objective, TrainState.initial(objective.initialParameters()), {
    adamW: ADAMW_DEFAULTS,
    maxGradNorm: 1,
    weightDecayAll: false,
    threads: 1,
    random: Math.random,
  });
}

test('the SFT loss is next-token cross-entropy over labelled targets only, padding excluded', async () => {
  const t = trainer();
  const batch = collateSft(examples, { padTokenId: 0, padToMultipleOf: 8 });
  expect(batch.tensors.input_ids.shape).toEqual([3, 8]);
  const { loss } = await t.step([batch], 1e-2);
  expect(loss).toBeCloseTo(hostLoss(examples), 5);
  await t.release();
});

test('accumulating micro-batches weighs every labelled token equally (not every micro-batch)', async () => {
  const whole = trainer();
  const split = trainer();
  const a = await whole.step([collateSft(examples, { padTokenId: 0 })], 1e-2);
  const b = await split.step(
    [collateSft(examples.slice(0, 1), { padTokenId: 0 }), collateSft(examples.slice(1), { padTokenId: 0 })],
    1e-2,
  );
  expect(b.loss).toBeCloseTo(a.loss, 5);
  expect(b.gradNorm).toBeCloseTo(a.gradNorm, 5);
  await Promise.all([whole.release(), split.release()]);
});
