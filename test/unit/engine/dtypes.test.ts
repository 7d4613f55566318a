import { Graph, toFloat16Bits } from '../../../src/engine/graph';
import * as op from '../../../src/engine/ops';
import { createSession } from '../../../src/engine/session';

test('float16 conversion rounds like numpy (normal, subnormal, overflow)', () => {
  // Expected bits from numpy: np.float32(v).astype(np.float16).view(np.uint16)
  const cases: [number, number][] = [
    [1, 0x3c00],
    [0.1, 0x2e66],
    [-2.5, 0xc100],
    [65504, 0x7bff],
    [70000, 0x7c00],
    [1e-8, 0],
    [6e-8, 0x0001],
    [3e-5, 0x01f7],
    [0.333333, 0x3555],
    [Infinity, 0x7c00],
  ];
  for (const [value, bits] of cases) expect([value, toFloat16Bits(value)]).toEqual([value, bits]);
});

test('a float16 graph runs: constants take the operand dtype and casts convert back', async () => {
  const g = new Graph();
  const x = g.input('x', [3], 'float16');
  g.output('y', op.cast(op.add(op.mul(x, 2), 0.5), 'float32'));
  const s = await createSession(g);
  const data = Uint16Array.from([1, -2.5, 0.1].map(toFloat16Bits));
  const y = (await s.run({ x: data })).y.data as Float32Array;
  expect(Array.from(y.subarray(0, 2))).toEqual([2.5, -4.5]);
  // onnxruntime's CPU provider computes float16 Mul/Add in float32 and may drop the rounding in between.
  expect(y[2]).toBeCloseTo(0.1 * 2 + 0.5, 3);
  await s.release();
});
