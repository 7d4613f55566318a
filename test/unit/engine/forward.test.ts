import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { UnavailableError } from '../../../src/errors';
import { Graph } from '../../../src/engine/graph';
import * as op from '../../../src/engine/ops';
import * as nn from '../../../src/engine/nn';
import { emitModel, opTypes, writeModel } from '../../../src/engine/onnx';
import { createSession } from '../../../src/engine/session';
import { randn } from './helpers';

/** Host float64 reference: mean cross-entropy of x @ W^T + b against targets, ignoring -100. */
function hostLinearCE(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  targets: number[],
  inF: number,
  outF: number,
) {
  let total = 0;
  let count = 0;
  targets.forEach((target, n) => {
    const logits = Array.from({ length: outF }, (_, o) => {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[n * inF + i] * w[o * inF + i];
      return s;
    });
    if (target === -100) return;
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - logits[target];
    count++;
  });
  return total / count;
}

describe('graph, emission and sessions', () => {
  test('linear + cross-entropy forward matches a host float64 reference', async () => {
    const [n, inF, outF] = [5, 4, 6];
    const g = new Graph();
    const x = g.input('x', [n, inF], 'float32');
    const targets = g.input('targets', [n], 'int64');
    const w = g.param('w', [outF, inF]);
    const b = g.param('b', [outF]);
    g.output('loss', nn.crossEntropy(nn.linear(x, w, b), targets));
    const xs = randn([n, inF], 1);
    const ws = randn([outF, inF], 2);
    const bs = randn([outF], 3);
    const t = [0, 5, -100, 2, 3];
    const session = await createSession(g);
    const out = await session.run({ x: xs, w: ws, b: bs, targets: BigInt64Array.from(t.map(BigInt)) });
    expect(out.loss.dims).toEqual([]);
    expect(out.loss.data[0] as number).toBeCloseTo(hostLinearCE(xs, ws, bs, t, inF, outF), 5);
    await session.release();
  });

  test('shape inference broadcasts and rejects mismatches with the op name', () => {
    const g = new Graph();
    const a = g.input('a', [2, 1, 4], 'float32');
    const b = g.input('b', [3, 1], 'float32');
    expect(op.add(a, b).shape).toEqual([2, 3, 4]);
    expect(op.matmul(g.input('m', [5, 2, 3], 'float32'), g.input('k', [3, 7], 'float32')).shape).toEqual([
      5, 2, 7,
    ]);
    expect(() => op.mul(a, g.input('c', [3, 5], 'float32'))).toThrow(
      /Mul: shapes \[2, 1, 4\] and \[3, 5\] do not broadcast/,
    );
    expect(() => op.matmul(a, g.input('d', [5, 2], 'float32'))).toThrow(/MatMul: inner dimensions differ/);
    expect(() => op.reshape(a, [3, -1])).toThrow(/Reshape: cannot reshape/);
    expect(op.slice(g.input('s', [10, 4], 'float32'), [2, -3], [-1, 100]).shape).toEqual([7, 3]);
    expect(op.gather(g.input('e', [11, 4], 'float32'), g.input('i', [2, 3], 'int64')).shape).toEqual([
      2, 3, 4,
    ]);
  });

  test('emission prunes nodes that do not reach the outputs and round-trips through protobuf', () => {
    const g = new Graph();
    const x = g.input('x', [3], 'float32');
    const unused = g.input('unused', [3], 'float32');
    op.exp(unused); // dead
    g.output('y', op.tanh(op.add(x, 1)));
    const model = onnx.ModelProto.decode(emitModel(g));
    const graph = model.graph as onnx.GraphProto;
    expect(graph.node.map((n) => n.opType)).toEqual(['Add', 'Tanh', 'Identity']);
    expect(graph.input.map((i) => i.name)).toEqual(['x']);
    expect(Number(model.opsetImport[0].version)).toBe(18);
    expect(opTypes(g)).toEqual(['Add', 'Tanh']);
  });

  test('initializers above the threshold go to an external data file that onnxruntime loads', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-ext-'));
    const g = new Graph();
    const x = g.input('x', [2, 3], 'float32');
    const w1 = randn([4, 3], 7);
    const w2 = randn([2, 4], 8);
    const h = nn.linear(
      x,
      g.initializer('w1', w1, [4, 3]),
      g.initializer('b1', new Float32Array([1, 2, 3, 4]), [4]),
    );
    g.output('y', nn.linear(h, g.initializer('w2', w2, [2, 4])));
    const { dataPath } = writeModel(g, path.join(dir, 'model.onnx'), { externalDataThresholdBytes: 20 });
    expect(dataPath).toBeDefined();
    const model = onnx.ModelProto.decode(fs.readFileSync(path.join(dir, 'model.onnx')));
    const ext = (model.graph as onnx.GraphProto).initializer.filter(
      (t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
    );
    expect(ext.map((t) => t.name)).toEqual(['w1', 'w2']); // b1 is 16 bytes: stays inline
    const offsets = ext.map((t) => (t.externalData ?? []).find((e) => e.key === 'offset')?.value);
    expect(offsets).toEqual(['0', '4096']);

    const xs = randn([2, 3], 9);
    const fromFile = await createSession(path.join(dir, 'model.onnx'));
    const inMemory = await createSession(g);
    const a = (await fromFile.run({ x: { data: xs, shape: [2, 3] } })).y.data as Float32Array;
    const b = (await inMemory.run({ x: xs })).y.data as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    await fromFile.release();
    await inMemory.release();
    fs.rmSync(dir, { recursive: true });
  });

  test('a session asked for an unavailable provider fails naming what is missing', async () => {
    const g = new Graph();
    g.output('y', op.relu(g.input('x', [2], 'float32')));
    await expect(createSession(g, { executionProvider: 'cuda' })).rejects.toThrow(UnavailableError);
    await expect(createSession(g, { executionProvider: 'cuda' })).rejects.toThrow(/CUDA provider libraries/);
    const webgpu = createSession(g, { executionProvider: 'webgpu' });
    // On a machine with a GPU adapter this succeeds; where there is none it must say so.
    await webgpu.then(
      (s) => s.release(),
      (e: Error) => {
        expect(e).toBeInstanceOf(UnavailableError);
        expect(e.message).toMatch(/no GPU adapter found/);
      },
    );
  });

  test('feeds are checked by name', async () => {
    const g = new Graph();
    g.output('y', op.relu(g.input('x', [2], 'float32')));
    const s = await createSession(g);
    await expect(s.run({ x: new Float32Array(2), z: new Float32Array(2) })).rejects.toThrow(
      /unknown feed 'z'/,
    );
    await expect(s.run({})).rejects.toThrow(/missing feeds: x/);
    await s.release();
  });
});
