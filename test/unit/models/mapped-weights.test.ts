/**
 * Frozen weights mapped from the checkpoint in its own dtype (16-bit ones upcast by a Cast in the graph) train as
 * float32 copies of the same values: the upcast is exact; the products differ only in float32 round-off (mapped
 * weights are not pre-packed, so MLAS runs another kernel), within the fixtures' 1e-6 relative tolerance.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import { writeDemoModel } from '../../../src/models/demo';
import { loadModel } from '../../../src/models/model';
import { SafetensorsReader, floatTensor, writeModelSafetensors } from '../../../src/models/safetensors';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { Batch } from '../../../src/training/objective';
import { parameterize } from '../../../src/training/parameterization';
import { Rng } from '../../../src/util/rng';
import { SftObjective } from '../../../src/training/sft';
import { TrainState } from '../../../src/training/train-state';
import { Trainer, TrainerOptions } from '../../../src/training/trainer';
import { Graph } from '../../../src/engine/graph';
import { emitModel, writeModel } from '../../../src/engine/onnx';
import * as op from '../../../src/engine/ops';
import { createSession } from '../../../src/engine/session';
import { RECOMPUTED } from '../../helpers/memory-layout';

let root: string;
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-mapped-'))));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The demo model rewritten with every tensor in `dtype`. */
function modelIn(dtype: 'F32' | 'BF16' | 'F16'): string {
  const dir = path.join(root, dtype);
  writeDemoModel(dir, {
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 64,
  });
  const file = path.join(dir, 'model.safetensors');
  const reader = SafetensorsReader.open(file);
  const tensors = Object.fromEntries(
    reader.names().map((n) => [n, floatTensor(reader.float32(n), reader.entry(n).shape, dtype)]),
  );
  fs.rmSync(file);
  writeModelSafetensors(dir, tensors);
  return dir;
}

function batch(): Batch {
  const ids = BigInt64Array.from([1, 5, 9, 44, 100, 7, 3, 2], BigInt);
  const shape = [1, 8];
  return {
    tensors: {
      input_ids: { data: ids, shape, dtype: 'int64' },
      attention_mask: { data: new BigInt64Array(8).fill(1n), shape, dtype: 'int64' },
      labels: { data: ids, shape, dtype: 'int64' },
    },
    tokens: 8,
    examples: 1,
  };
}

async function loraLosses(
  dir: string,
  mapFrozen: boolean,
  layout: Pick<TrainerOptions, 'halfWeights' | 'memoryLayout' | 'executionProvider' | 'stateOnDevice'> = {},
): Promise<number[]> {
  const model = await loadModel(dir, { mapFrozen });
  const rng = Rng.fromSeed(3);
  const params = parameterize(model, {
    scale: 'lora',
    hyperparameters: parseHyperparameters({ loraRank: 4, loraAlpha: 8 }),
    adapterDir: null,
    rng,
  });
  const trainer = new Trainer(
    new SftObjective(params.forward, params.initial),
    TrainState.initial(params.initial),
    {
      adamW: ADAMW_DEFAULTS,
      maxGradNorm: 1,
      weightDecayAll: false,
      threads: 1,
      random: () => rng.next(),
      ...layout,
    },
  );
  const losses = [];
  for (let i = 0; i < 3; i++) {
    const r = await trainer.step([batch()], 1e-2);
    losses.push(r.loss, r.gradNorm);
  }
  await trainer.release();
  return losses;
}

test.each(['F32', 'BF16', 'F16'] as const)(
  'LoRA on %s weights mapped from the checkpoint trains as float32 copies (1e-6 relative)',
  async (dtype) => {
    const dir = modelIn(dtype);
    const mapped = await loraLosses(dir, true);
    expect(mapped.every(Number.isFinite)).toBe(true);
    const copied = await loraLosses(dir, false);
    mapped.forEach((v, i) => expect(Math.abs(v - copied[i])).toBeLessThanOrEqual(1e-6 * Math.abs(copied[i])));
  },
);

test('a session over mapped weights writes no temporary model file', async () => {
  const tmp = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('whetstone-model-')).length;
  const before = tmp();
  await loraLosses(modelIn('BF16'), true);
  expect(tmp()).toBe(before);
});

// WebGPU has no bfloat16 kernel: its graphs take bfloat16 weights as float16 (Graph.halfWeights), converted at
// emission, exactly for magnitudes in float16's normal range (the demo weights are N(0, 0.02)).
test.each([
  ['', {}],
  [' with recomputation (casts at each use)', RECOMPUTED],
])(
  'bfloat16 weights converted to float16%s train as the bfloat16 ones (1e-6 relative)',
  async (_, layout) => {
    const dir = modelIn('BF16');
    const stored = await loraLosses(dir, true, layout);
    const half = await loraLosses(dir, true, { ...layout, halfWeights: 'float16' });
    half.forEach((v, i) => expect(Math.abs(v - stored[i])).toBeLessThanOrEqual(1e-6 * Math.abs(stored[i])));
  },
);

/** A graph of one (2, 2) bfloat16 weight `w` of these values, written to `dir`, converted to float16 there. */
function convertedWeightGraph(dir: string, values: number[]) {
  writeModelSafetensors(dir, { w: floatTensor(Float32Array.from(values), [2, 2], 'BF16') });
  const e = SafetensorsReader.open(path.join(dir, 'model.safetensors')).entry('w');
  const g = new Graph();
  g.halfWeights = 'float16';
  const w = g.mappedInitializer(
    'w',
    { file: e.file, offset: e.start, length: e.end - e.start },
    [2, 2],
    'bfloat16',
  );
  return { g, w };
}

test('a bfloat16 weight beyond float16 is refused when converted; a converted graph is not emitted without data', async () => {
  const dir = path.join(root, 'big');
  const { g, w } = convertedWeightGraph(dir, [1, -2, 1e5, 3]);
  expect(w.dtype).toBe('float16');
  g.output('y', w);
  await expect(createSession(g)).rejects.toThrow('w: 99840 is beyond float16');
  expect(() => emitModel(g)).toThrow('w is converted at emission');
});

// Needs a WebGPU adapter: a GPU, or lavapipe on the CPU (`. scripts/gpu/lavapipe.sh`), and WHETSTONE_WEBGPU=1.
// Measured on lavapipe: losses and norms within 1e-7 relative of the CPU's bfloat16 run.
const withAdapter = process.env.WHETSTONE_WEBGPU === '1' ? test.each : test.skip.each;
withAdapter([
  ['', {}],
  [' with recomputation', RECOMPUTED],
])('LoRA on bfloat16 weights on webgpu (float16 there)%s trains as on the CPU', async (_, layout) => {
  const dir = modelIn('BF16');
  const cpu = await loraLosses(dir, true, layout);
  const gpu = await loraLosses(dir, true, { ...layout, executionProvider: 'webgpu', stateOnDevice: false });
  gpu.forEach((v, i) => expect(Math.abs(v - cpu[i])).toBeLessThanOrEqual(1e-5 * Math.abs(cpu[i])));
});

test('a converted weight reaches onnxruntime as float16, in memory and written to a file (small ones too)', async () => {
  const dir = path.join(root, 'small');
  const values = [1, -2, 0.5, 3.140625];
  const { g, w } = convertedWeightGraph(dir, values);
  g.output('y', op.cast(w, 'float32'));
  const expected = Float32Array.from(values);
  const inMemory = await createSession(g);
  expect((await inMemory.run({})).y.data).toEqual(expected);
  await inMemory.release();
  const { modelPath } = writeModel(g, path.join(dir, 'out', 'model.onnx'));
  const fromFile = await createSession(modelPath);
  expect((await fromFile.run({})).y.data).toEqual(expected);
  await fromFile.release();
});
