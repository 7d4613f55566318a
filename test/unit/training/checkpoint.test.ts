import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../src/errors';
import {
  OPTIMIZER_FILE,
  TRAINER_STATE_FILE,
  TrainerStateFile,
  readMoments,
  readTrainerState,
  writeResumeState,
} from '../../../src/training/checkpoint';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { Rng } from '../../../src/util/rng';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-ckpt-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const state: TrainerStateFile = {
  format: 'whetstone-trainer-state',
  version: 1,
  method: 'sft',
  parameterScale: 'lora',
  globalStep: 5,
  totalSteps: 10,
  position: { epoch: 1, microBatch: 2, order: [3, 0, 2, 1] },
  rng: Rng.fromSeed(4).state(),
  data: { examples: 4, fingerprint: 'abc' },
  trainables: ['a.weight'],
  hyperparameters: parseHyperparameters({}),
  logHistory: [{ step: 5, epoch: 2, loss: 1.5, gradNorm: 0.25, learningRate: 1e-3 }],
};

test('trainer state and Adam moments round-trip exactly', () => {
  const expAvg = Float32Array.from([0.1, -0.2, 1e-9, 3.5e7, 0, -0]);
  const expAvgSq = Float32Array.from([1, 2, 3, 4, 5, 6]);
  writeResumeState(
    dir,
    state,
    new Map([['a.weight', { shape: [2, 3], value: new Float32Array(6), expAvg, expAvgSq }]]),
  );
  expect(readTrainerState(dir)).toEqual(state);
  const moments = readMoments(dir, new Map([['a.weight', [2, 3]]]));
  expect(moments.get('a.weight')!.expAvg).toEqual(expAvg);
  expect(moments.get('a.weight')!.expAvgSq).toEqual(expAvgSq);
});

test('missing or mismatched resume files are clear user errors', () => {
  expect(() => readTrainerState(dir)).toThrow(/not a resumable checkpoint: trainer_state.json is missing/);
  fs.writeFileSync(path.join(dir, TRAINER_STATE_FILE), '{"format": "other"}');
  expect(() => readTrainerState(dir)).toThrow(UserInputError);
  expect(() => readMoments(dir, new Map([['a.weight', [2, 3]]]))).toThrow(/optimizer.safetensors is missing/);
  const m = {
    shape: [2, 3],
    value: new Float32Array(6),
    expAvg: new Float32Array(6),
    expAvgSq: new Float32Array(6),
  };
  writeResumeState(dir, state, new Map([['a.weight', m]]));
  expect(fs.existsSync(path.join(dir, OPTIMIZER_FILE))).toBe(true);
  expect(() => readMoments(dir, new Map([['a.weight', [3, 2]]]))).toThrow(
    /"a.weight.exp_avg" is \[2,3\], the model needs \[3,2\]/,
  );
  expect(() => readMoments(dir, new Map([['b.weight', [2, 3]]]))).toThrow(/has no tensor "b.weight.exp_avg"/);
});
