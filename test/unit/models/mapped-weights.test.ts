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
import { Trainer } from '../../../src/training/trainer';

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

async function loraLosses(dir: string, mapFrozen: boolean): Promise<number[]> {
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
