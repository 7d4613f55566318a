/**
 * `whetstone train` end to end in fresh processes: JSON-line progress, checkpoints in the PEFT and Hugging Face
 * layouts, exact resume (10 straight steps == 5 steps, checkpoint, a new process resuming for 5 more), and clear
 * errors for bad input.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hfTiny } from '../../helpers/fixtures';

const MAIN = path.resolve(__dirname, '../../../src/cli/main.ts');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-cli-train-'));
  const rows = [
    { prompt: 'Question: what is two plus three? Answer:', response: ' five.' },
    { prompt: 'Translate to Chinese: thank you very much.', response: ' 非常感谢。' },
    { instruction: 'Summarise', input: 'The meeting moved to Friday.', output: 'Meeting moved to Friday.' },
    { prompt: '学习率', response: '过高会导致模型难以收敛。' },
    {
      messages: [
        { role: 'user', content: 'Say hi' },
        { role: 'assistant', content: 'hi' },
      ],
    },
    { prompt: 'Colour of the sky?', response: ' Blue.' },
    { prompt: 'Two times four?', response: ' Eight.' },
    { prompt: 'Opposite of up?', response: ' Down.' },
  ];
  fs.writeFileSync(path.join(dir, 'data.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stderr: string;
  events: Record<string, unknown>[];
}

function train(name: string, config: Record<string, unknown>, extra: string[] = []): Run {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'train', '--config', file, ...extra], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const events = r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  return { status: r.status, stderr: r.stderr, events };
}

const base = (output: string, hyperparameters: Record<string, unknown>, scale = 'lora') => ({
  model: hfTiny('llama-tiny'),
  dataset: path.join(dir, 'data.jsonl'),
  template: 'plain',
  method: 'sft',
  parameterScale: scale,
  hyperparameters: {
    epochs: 2.5, // 4 steps an epoch: 10 steps, step 5 in the middle of epoch 2
    batchSize: 2,
    learningRate: 1e-2,
    lrScheduler: 'cosine',
    warmupRatio: 0.2,
    seed: 7,
    ...hyperparameters,
  },
  output: path.join(dir, output),
  executionProvider: 'cpu',
  threads: 1,
});

const losses = (run: Run) => run.events.filter((e) => e.event === 'step').map((e) => e.loss as number);

test.each([
  ['lora', { loraRank: 4, loraDropout: 0.1 }],
  ['full', { weightDecay: 0.01 }],
])('%s: a run resumed in a new process from its step-5 checkpoint continues exactly', (scale, hp) => {
  const straight = train(`${scale}-straight`, base(`${scale}-straight`, hp, scale));
  expect(straight.stderr).toBe('');
  expect(straight.status).toBe(0);
  const steps = straight.events.filter((e) => e.event === 'step');
  expect(steps).toHaveLength(10);
  for (const key of [
    'epoch',
    'step',
    'totalSteps',
    'loss',
    'gradNorm',
    'learningRate',
    'tokensPerSecond',
    'etaSeconds',
  ]) {
    expect(typeof steps[0][key]).toBe('number');
  }
  expect(steps[9]).toMatchObject({ step: 10, totalSteps: 10, epoch: 3 });

  const first = train(`${scale}-first`, base(`${scale}-first`, { ...hp, checkpointEverySteps: 5 }, scale));
  expect(first.status).toBe(0);
  const ckpt = path.join(dir, `${scale}-first`, 'checkpoint-5');
  expect(first.events).toContainEqual({ event: 'checkpoint', step: 5, path: ckpt });
  const resumed = train(
    `${scale}-resumed`,
    base(`${scale}-resumed`, { ...hp, checkpointEverySteps: 5 }, scale),
    ['--resume', ckpt],
  );
  expect(resumed.stderr).toBe('');
  expect(resumed.events[0]).toMatchObject({ event: 'start', resumedAt: 5, totalSteps: 10 });
  const tail = losses(resumed);
  expect(tail).toHaveLength(5);
  losses(straight)
    .slice(5)
    .forEach((l, i) => expect(Math.abs(tail[i] - l)).toBeLessThanOrEqual(1e-6));

  const out = path.join(dir, `${scale}-resumed`);
  const files =
    scale === 'lora'
      ? ['adapter_config.json', 'adapter_model.safetensors']
      : ['config.json', 'model.safetensors', 'tokenizer.json'];
  for (const f of [...files, 'trainer_state.json', 'optimizer.safetensors'])
    expect(fs.existsSync(path.join(out, f))).toBe(true);
  expect(resumed.events.at(-1)).toMatchObject({
    event: 'done',
    finalCheckpoint: out,
    stopped: false,
    steps: 10,
  });
});

test.each([
  [
    'a missing model folder',
    { model: path.join(os.tmpdir(), 'no-such-model') },
    /model: .*no-such-model does not exist/,
  ],
  [
    'a sequence length above the model limit',
    { hyperparameters: { maxSequenceLength: 300 } },
    /maxSequenceLength 300 exceeds the model's limit of 256/,
  ],
  ['an unknown hyperparameter', { hyperparameters: { learning_rate: 1 } }, /unknown key learning_rate/],
  [
    'a wrong initAdapter kind',
    { initAdapter: hfTiny('prompt_init') },
    /holds a prompt adapter, this run trains LORA/,
  ],
])('%s fails with a clear error and exit code 2', (_what, change, message) => {
  const run = train('bad', { ...base('bad', {}), ...change });
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(message);
});

test('a model of an unknown architecture is refused naming its model_type', () => {
  const model = path.join(dir, 'mamba');
  fs.cpSync(hfTiny('llama-tiny'), model, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({ ...config, model_type: 'mamba' }));
  const run = train('mamba', { ...base('mamba', {}), model });
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(/mamba/);
});

test('a dataset with a broken line is named by file and line', () => {
  const broken = path.join(dir, 'broken.jsonl');
  fs.writeFileSync(broken, '{"prompt": "a", "response": "b"}\n{"prompt": "a", "response": \n');
  const run = train('broken', { ...base('broken', {}), dataset: broken });
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(/broken.jsonl: line 2: not valid JSON/);
});
