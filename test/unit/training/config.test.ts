import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../src/errors';
import { loadTrainConfig } from '../../../src/training/config-file';
import { parseHyperparameters } from '../../../src/training/hyperparameters';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-config-'));
  fs.mkdirSync(path.join(dir, 'model'));
  fs.writeFileSync(path.join(dir, 'data.jsonl'), '{"prompt":"a","response":"b"}\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

test('a YAML config with paths relative to its folder and defaults for missing hyperparameters', () => {
  const file = write(
    'ok.yaml',
    [
      'model: model',
      'dataset: data.jsonl',
      'template: plain',
      'method: sft',
      'parameterScale: lora',
      'hyperparameters:',
      '  epochs: 2',
      '  learningRate: 0.001',
      '  loraTargets: all-linear',
      '  maxSequenceLength: 512',
      'output: out',
      'executionProvider: cpu',
    ].join('\n'),
  );
  const cfg = loadTrainConfig(file);
  expect(cfg.model).toBe(path.join(dir, 'model'));
  expect(cfg.dataset).toBe(path.join(dir, 'data.jsonl'));
  expect(cfg.parameterScale).toBe('lora');
  expect(cfg.hyperparameters).toMatchObject({
    epochs: 2,
    learningRate: 0.001,
    loraTargets: 'all-linear',
    maxSequenceLength: 512,
    batchSize: 8,
    lrScheduler: 'linear',
    maxGradNorm: 1,
    seed: 42,
    shuffle: true,
    gradientAccumulationSteps: 1,
  });
});

test('a JSON config parses the same way', () => {
  const file = write(
    'ok.json',
    JSON.stringify({
      model: 'model',
      dataset: 'data.jsonl',
      output: 'out',
      hyperparameters: { loraTargets: ['q_proj'] },
    }),
  );
  const cfg = loadTrainConfig(file);
  expect(cfg.parameterScale).toBe('full');
  expect(cfg.hyperparameters.loraTargets).toEqual(['q_proj']);
});

test.each([
  ['bad.yaml', 'model: model\nhyperparameters: [1,\n  b: 2\n', /invalid YAML at line \d+/],
  ['bad.json', '{"model": ', /invalid JSON/],
  [
    'missing-model.yaml',
    'model: nowhere\ndataset: data.jsonl\noutput: o\n',
    /model: .*nowhere does not exist/,
  ],
  ['unknown-key.yaml', 'model: model\ndataset: data.jsonl\noutput: o\nepochs: 3\n', /unknown key epochs/],
  [
    'bad-scale.yaml',
    'model: model\ndataset: data.jsonl\noutput: o\nparameterScale: half\n',
    /parameterScale must be one of/,
  ],
  [
    'bad-ep.yaml',
    'model: model\ndataset: data.jsonl\noutput: o\nexecutionProvider: tpu\n',
    /executionProvider must be one of/,
  ],
  [
    'long.yaml',
    'model: model\ndataset: data.jsonl\noutput: o\nhyperparameters:\n  maxSequenceLength: 8192\n',
    /hyperparameters.maxSequenceLength must be an integer in \[2, 4096\]/,
  ],
  [
    'typo.yaml',
    'model: model\ndataset: data.jsonl\noutput: o\nhyperparameters:\n  learning_rate: 1\n',
    /unknown key learning_rate/,
  ],
])('%s is refused with a clear error', (name, text, message) => {
  const file = write(name, text);
  expect(() => loadTrainConfig(file)).toThrow(UserInputError);
  expect(() => loadTrainConfig(file)).toThrow(message);
});

test('hyperparameter checks name the field', () => {
  expect(() => parseHyperparameters({ batchSize: 0 })).toThrow(
    /hyperparameters.batchSize must be an integer/,
  );
  expect(() => parseHyperparameters({ learningRate: 'fast' })).toThrow(/learningRate must be a number/);
  expect(() => parseHyperparameters({ warmupRatio: 1.5 })).toThrow(
    /warmupRatio must be a number >= 0 and <= 1/,
  );
  expect(parseHyperparameters({ loraTargets: 'q_proj, k_proj' }).loraTargets).toEqual(['q_proj', 'k_proj']);
});

test("a model folder's recommended defaults fill what the config leaves out, for its scale", () => {
  const model = path.join(dir, 'recommends');
  fs.mkdirSync(model);
  fs.writeFileSync(
    path.join(model, 'config.json'),
    JSON.stringify({
      model_type: 'llama',
      whetstone: { recommended_hyperparameters: { LORA: { epochs: 10, batchSize: 2, loraRank: 4 } } },
    }),
  );
  const config = (scale: string, hp: string) =>
    loadTrainConfig(
      write(
        `recommends-${scale}.json`,
        `{"model": "recommends", "dataset": "data.jsonl", "parameterScale": "${scale}", "output": "out", "hyperparameters": ${hp}}`,
      ),
    ).hyperparameters;
  expect(config('lora', '{"epochs": 3}')).toMatchObject({ epochs: 3, batchSize: 2, loraRank: 4 });
  expect(config('full', '{}')).toMatchObject({ epochs: 3, batchSize: 8 });
  fs.writeFileSync(
    path.join(model, 'config.json'),
    JSON.stringify({ whetstone: { recommended_hyperparameters: { LORA: { batchSize: 0 } } } }),
  );
  expect(() => config('lora', '{}')).toThrow(
    `${path.join(model, 'config.json')}.whetstone.recommended_hyperparameters.LORA.batchSize must be an integer in [1, 1024], got 0`,
  );
});
