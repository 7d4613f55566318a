/** `whetstone metrics`: the command module's run() on real JSONL files, stdout captured. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../../src/cli/commands/metrics';
import { UserInputError } from '../../../src/errors';
import { scoreSample } from '../../../src/evaluation/metrics';

const LINES = [
  { prediction: '大模型训练是本平台的核心功能。', reference: '大模型训练是本平台的核心功能。' },
  { prediction: '今天纽约的天气真好啊', reference: '学习率过高会导致模型难以收敛' },
  { prediction: '数据批大小影响训练速度', reference: '数据批大小影响训练速度和模型的优化' },
];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-metrics-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

async function runCaptured(argv: string[]): Promise<Record<string, unknown>> {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    await run(argv);
  } finally {
    spy.mockRestore();
  }
  expect(out.trim().split('\n')).toHaveLength(1); // exactly one JSON object
  return JSON.parse(out);
}

const ONES = { precision: 1, recall: 1, f: 1 };
const ZEROS = { precision: 0, recall: 0, f: 0 };

describe('whetstone metrics', () => {
  it('prints the count and the mean of each score as one JSON object', async () => {
    const input = writeFile('three.jsonl', jsonl(LINES));
    const out = await runCaptured(['--input', input]);
    expect(Object.keys(out)).toEqual(['count', 'accuracy', 'f1', 'rouge1', 'rouge2', 'rougeL', 'bleu4']);
    const third = scoreSample(LINES[2].prediction, LINES[2].reference);
    expect(out.count).toBe(3);
    expect(out.accuracy).toBeCloseTo(1 / 3, 15);
    expect(out.bleu4).toBeCloseTo((1 + 0 + third.bleu4) / 3, 15);
    expect((out.rougeL as { recall: number }).recall).toBeCloseTo((1 + 0 + third.rougeL.recall) / 3, 15);
    expect(third.rouge1.recall).toBeGreaterThan(0);
    expect(third.rouge1.recall).toBeLessThan(1);
  });

  it('with --per-sample adds every line in input order', async () => {
    const input = writeFile('per-sample.jsonl', jsonl(LINES));
    const out = await runCaptured(['--input', input, '--per-sample']);
    const samples = out.samples as Record<string, unknown>[];
    expect(samples).toHaveLength(3);
    expect(samples[0]).toEqual({ accuracy: 1, f1: 1, rouge1: ONES, rouge2: ONES, rougeL: ONES, bleu4: 1 });
    expect(samples[1]).toEqual({ accuracy: 0, f1: 0, rouge1: ZEROS, rouge2: ZEROS, rougeL: ZEROS, bleu4: 0 });
    expect(samples[2]).toEqual(scoreSample(LINES[2].prediction, LINES[2].reference));
  });

  it('passes --segmenter and --stopwords (a file of one word per line) to the pipeline', async () => {
    const input = writeFile('words.jsonl', jsonl([{ prediction: 'the cat sat', reference: 'a cat sat' }]));
    const none = await runCaptured(['--input', input, '--segmenter', 'whitespace', '--stopwords', 'none']);
    expect(none.accuracy).toBe(0);
    const byDefault = await runCaptured(['--input', input, '--segmenter', 'whitespace']);
    expect(byDefault.accuracy).toBe(1); // 'the' and 'a' are English stop words
    const list = writeFile('stop.txt', 'The\n\nA\n');
    expect(
      (await runCaptured(['--input', input, '--segmenter', 'whitespace', '--stopwords', list])).accuracy,
    ).toBe(1);
    const chars = await runCaptured(['--input', input, '--segmenter', 'char', '--stopwords', 'none']);
    expect((chars.rouge1 as { recall: number }).recall).toBeCloseTo(6 / 7, 15); // c a t s a t of a c a t s a t
  });

  it('skips blank lines but numbers lines as they are in the file', async () => {
    const input = writeFile(
      'blank.jsonl',
      '\n' + jsonl([LINES[0]]) + '\n\n' + '{"prediction": 1, "reference": "x"}\n',
    );
    await expect(run(['--input', input])).rejects.toThrow(`${input} line 5: "prediction" must be a string`);
  });

  it.each([
    ['not JSON', '{"prediction": "a", "reference": ', /line 2: not valid JSON/],
    ['not an object', '["a", "b"]', /line 2: expected an object/],
    ['a missing field', '{"prediction": "a"}', /line 2: "reference" must be a string/],
  ])('names the line of a malformed row: %s', async (_what, bad, message) => {
    const input = writeFile('bad.jsonl', JSON.stringify(LINES[0]) + '\n' + bad + '\n');
    const error = await run(['--input', input]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserInputError);
    expect((error as UserInputError).message).toMatch(message);
    expect((error as UserInputError).path.slice(0, 2)).toEqual(['line', '2']);
  });

  it('rejects bad arguments and unusable files as user input errors', async () => {
    const input = writeFile('ok.jsonl', jsonl(LINES));
    await expect(run([])).rejects.toThrow(/--input is required/);
    await expect(run(['--input', input, '--segmenter', 'bpe'])).rejects.toThrow(/--segmenter must be one of/);
    await expect(run(['--input', input, '--frobnicate'])).rejects.toThrow(UserInputError);
    await expect(run(['--input', path.join(dir, 'missing.jsonl')])).rejects.toThrow(/--input: cannot read/);
    await expect(run(['--input', input, '--stopwords', path.join(dir, 'nope.txt')])).rejects.toThrow(
      /--stopwords: cannot read/,
    );
    await expect(run(['--input', writeFile('empty.jsonl', '\n\n')])).rejects.toThrow(/has no samples/);
  });
});
