import { onnx } from 'onnx-proto';
import { gradients } from '../../../src/engine/autodiff';
import { DType, Graph } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import { emitModel } from '../../../src/engine/onnx';
import * as op from '../../../src/engine/ops';
import { ADAMW_DEFAULTS, appendAdamW } from '../../../src/engine/optim';
import {
  assertGpuPlaceable,
  fallbackNodes,
  parsePlacementLog,
  runtimeFallbacks,
} from '../../../src/engine/placement';
import { createSession } from '../../../src/engine/session';
import { WEBGPU_KERNELS } from '../../../src/engine/webgpu-kernels';
import { randn } from './helpers';
import { IntDType, TINY, tinyTransformerLoss } from './tiny-transformer';

const { B, T, C, V } = TINY;

/** The tiny transformer's training step: loss, gradients, clipping and AdamW. */
function transformerStep(ints: IntDType): Graph {
  const g = new Graph();
  const { loss, params } = tinyTransformerLoss(g, ints);
  g.output('loss', loss);
  const grads = gradients(loss, params);
  appendAdamW(
    params.map((p, i) => ({ param: p, grad: grads[i], decayed: p.rank === 2 })),
    ADAMW_DEFAULTS,
    1.0,
  );
  return g;
}

describe('the WebGPU kernel table', () => {
  test('agrees with the placements docs/gpu.md measured on an H100', () => {
    const onDevice = (opType: string, signature: string) =>
      WEBGPU_KERNELS.ops[opType].device.includes(signature);
    for (const opType of [
      'MatMul',
      'Softmax',
      'ReduceMean',
      'ReduceSum',
      'Transpose',
      'Erf',
      'Sigmoid',
      'Exp',
    ]) {
      expect(WEBGPU_KERNELS.ops[opType].device[0].split(',')[0]).toBe('float32');
    }
    expect(onDevice('Where', 'bool,float32,float32')).toBe(true);
    expect(onDevice('Gather', 'float32,int64')).toBe(true);
    expect(onDevice('ScatterND', 'float32,int64,float32')).toBe(true);
    expect(onDevice('LogSoftmax', 'float32')).toBe(false);
    expect(WEBGPU_KERNELS.ops.OneHot.device).toEqual([]);
    expect(WEBGPU_KERNELS.ops.SoftmaxCrossEntropyLoss.device).toEqual([]);
  });
});

describe('fallbackNodes', () => {
  test('names each node that would fall back, why, and whether it reads device data', () => {
    const g = new Graph();
    const x = g.input('x', [2, 3], 'float32');
    const n = g.input('n', [2, 3], 'int64');
    const lsm = g.addNode('LogSoftmax', [op.exp(x)], [{ shape: [2, 3], dtype: 'float32' }], { axis: 1 })[0];
    g.output('a', op.add(lsm, op.sign(x)));
    g.output('b', op.add(n, n));
    const found = fallbackNodes(g);
    expect(found.map((f) => [f.opType, f.signature, f.afterDevice])).toEqual([
      ['LogSoftmax', 'float32', true],
      ['Sign', 'float32', false],
      ['Add', 'int64,int64', false],
      ['Identity', 'int64', false], // the model output `b`
    ]);
    expect(found[0].reason).toBe('the webgpu LogSoftmax kernel does not take float32');
    expect(found[1].reason).toBe('no webgpu kernel for Sign');
    expect(found[0].node).toMatch(/^n\d+_LogSoftmax$/);
    expect(() => assertGpuPlaceable(g)).toThrow(
      /4 node\(s\) would run on the CPU instead of webgpu:\n {2}n\d+_LogSoftmax/,
    );
  });

  test('treats ops and dtype combinations the table never measured as fallbacks', () => {
    const g = new Graph();
    const x = g.input('x', [2, 2], 'float32');
    g.output(
      'y',
      g.addNode('Einsum', [x, x], [{ shape: [2, 2], dtype: 'float32' }], { equation: 'ij,jk->ik' })[0],
    );
    expect(fallbackNodes(g).map((f) => f.reason)).toEqual(['Einsum was not measured']);
  });

  test('reads an ONNX model as it reads the Graph it came from, and refuses another opset', () => {
    const g = transformerStep('int64');
    const model = onnx.ModelProto.decode(emitModel(g));
    expect(fallbackNodes(model)).toEqual(fallbackNodes(g));
    model.opsetImport = [{ domain: '', version: 17 }];
    expect(() => fallbackNodes(model)).toThrow(/measured at opset 18, the model uses 17/);
  });
});

describe('engine graphs on the WebGPU provider', () => {
  test('a transformer training step with int32 ids, mask and labels places every node on the device', () => {
    assertGpuPlaceable(transformerStep('int32'));
  });

  test('with int64 inputs only host-side label and mask arithmetic falls back, reading nothing from the device', () => {
    const found = fallbackNodes(transformerStep('int64'));
    expect([...new Set(found.map((f) => f.opType))].sort()).toEqual([
      'Cast',
      'Equal',
      'Reshape',
      'Unsqueeze',
      'Where',
    ]);
    expect(found.every((f) => f.signature.split(/,|->/)[0] === 'int64' || f.opType === 'Where')).toBe(true);
    expect(found.filter((f) => f.afterDevice)).toEqual([]);
  });

  test('int32 targets and indices give the same loss and embedding gradient as int64 ones', async () => {
    const run = async (ints: DType) => {
      const g = new Graph();
      const emb = g.param('emb', [V, C]);
      const ids = g.input('ids', [B, T], ints);
      const labels = g.input('labels', [B, T], ints);
      const w = g.param('w', [V, C]);
      const loss = nn.crossEntropy(nn.linear(op.gather(emb, ids), w), labels);
      g.output('loss', loss);
      g.output('grad', gradients(loss, [emb])[0]);
      const s = await createSession(g, { threads: 1 });
      const idVals = [1, 5, 5, 0, 15, 2, 9, 5];
      const labelVals = [3, -100, 7, 7, 0, 15, -100, 2];
      const data = (vals: number[]) =>
        ints === 'int64' ? BigInt64Array.from(vals.map(BigInt)) : Int32Array.from(vals);
      const out = await s.run({
        emb: randn([V, C], 3),
        w: randn([V, C], 4),
        ids: data(idVals),
        labels: data(labelVals),
      });
      await s.release();
      return { loss: Number(out.loss.data[0]), grad: Array.from(out.grad.data as Float32Array) };
    };
    const [a, b] = [await run('int64'), await run('int32')];
    expect(b.loss).toBeCloseTo(a.loss, 6);
    b.grad.forEach((v, i) => expect(v).toBeCloseTo(a.grad[i], 6));
    expect(a.grad.slice(3 * C, 4 * C).every((v) => v === 0)).toBe(true); // token 3 is never looked up
  });
});

describe('runtime placement from the verbose session log', () => {
  test('parses placements per model, provider lists, errors and colour codes', () => {
    const log = [
      '@@model 0',
      '2026-01-01 [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1',
      '2026-01-01 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   LogSoftmax (n1_LogSoftmax)',
      '2026-01-01 [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 2',
      '2026-01-01 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   MatMul (n0_MatMul)',
      '2026-01-01 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   MemcpyToHost (Memcpy)',
      '\u001b[0;93m2026-01-01 [W:onnxruntime:, session_state.cc:1397 VerifyEachNodeIsAssignedToAnEp] Some nodes were not assigned\u001b[m',
      '@@ok 0',
      '@@model 1',
      '2026-01-01 [I:onnxruntime:, session_state.cc:1375 VerifyEachNodeIsAssignedToAnEp] All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 5',
      '@@ok 1',
      '@@model 2',
      '@@error 2 "Failed to get a WebGPU adapter: No supported adapters"',
    ].join('\n');
    expect(parsePlacementLog(log, 3)).toEqual([
      {
        counts: { CPUExecutionProvider: 1, WebGpuExecutionProvider: 2 },
        nodes: {
          CPUExecutionProvider: [{ opType: 'LogSoftmax', name: 'n1_LogSoftmax' }],
          WebGpuExecutionProvider: [
            { opType: 'MatMul', name: 'n0_MatMul' },
            { opType: 'MemcpyToHost', name: 'Memcpy' },
          ],
        },
      },
      { counts: { WebGpuExecutionProvider: 5 }, nodes: { WebGpuExecutionProvider: [] } },
      { error: 'Failed to get a WebGPU adapter: No supported adapters' },
    ]);
  });

  // Needs a WebGPU adapter: a GPU, or lavapipe on the CPU (`. scripts/gpu/lavapipe.sh`), and WHETSTONE_WEBGPU=1.
  const withAdapter = process.env.WHETSTONE_WEBGPU === '1' ? test : test.skip;
  withAdapter('onnxruntime places the nodes where the static check predicts', async () => {
    for (const ints of ['int32', 'int64'] as const) {
      const g = transformerStep(ints);
      const observed = await runtimeFallbacks(g);
      expect(observed.fallbacks.map((n) => n.name).sort()).toEqual(
        fallbackNodes(g)
          .map((f) => f.node)
          .sort(),
      );
      expect(observed.deviceNodes).toBeGreaterThan(100);
    }
  });
});
