/** A softmax-regression Objective on the bare engine: lets the trainer be tested without a language model. */
import { Graph, Tensor } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import * as op from '../../../src/engine/ops';
import { Batch, HostTensor, Objective, ObjectiveOutputs } from '../../../src/training/objective';

/** Deterministic pseudo-random values in [-scale, scale). */
export function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

export class LinearObjective implements Objective {
  readonly name = 'linear';
  constructor(
    readonly inFeatures: number,
    readonly classes: number,
  ) {}

  build(g: Graph, batch: Readonly<Record<string, Tensor>>): ObjectiveOutputs {
    const w = g.param('head.weight', [this.classes, this.inFeatures]);
    const b = g.param('head.bias', [this.classes]);
    const labels = batch.labels;
    const logits = nn.linear(batch.x, w, b); // (N, classes)
    const lossSum = nn.crossEntropy(logits, labels, { reduction: 'sum' });
    const weight = op.reduceSum(op.cast(op.not(op.equal(labels, -100)), 'float32'), [0]);
    return {
      lossSum,
      weight,
      params: new Map([
        ['head.weight', w],
        ['head.bias', b],
      ]),
      metricSums: { logitSquares: op.reduceSum(op.mul(logits, logits), [0, 1]) },
    };
  }

  initialParameters(): ReadonlyMap<string, HostTensor> {
    return new Map([
      [
        'head.weight',
        {
          data: values(this.classes * this.inFeatures, 7, 0.3),
          shape: [this.classes, this.inFeatures],
          dtype: 'float32',
        },
      ],
      ['head.bias', { data: new Float32Array(this.classes), shape: [this.classes], dtype: 'float32' }],
    ]);
  }
}

/** A batch of `n` rows starting at row `start` of a fixed synthetic data set. */
export function linearBatch(start: number, n: number, inFeatures: number, classes: number): Batch {
  const all = values(64 * inFeatures, 11);
  const x = all.slice(start * inFeatures, (start + n) * inFeatures);
  const labels = BigInt64Array.from({ length: n }, (_, i) =>
    BigInt((start + i) % 5 === 4 ? -100 : (start + i) % classes),
  );
  return {
    tensors: {
      x: { data: x, shape: [n, inFeatures], dtype: 'float32' },
      labels: { data: labels, shape: [n], dtype: 'int64' },
    },
    tokens: n,
    examples: n,
  };
}
