import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDatasetJsonl, readDatasetFile } from '../../../../src/data';
import { UserInputError } from '../../../../src/errors';

function errorOf(fn: () => unknown): UserInputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserInputError) return err;
    throw err;
  }
  throw new Error('expected a UserInputError');
}

const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n');

describe('parseDatasetJsonl SFT', () => {
  it('reads prompt/response, alpaca, chat and the platform array form; skips blank lines', () => {
    const text =
      '\uFEFF' +
      jsonl(
        { prompt: 'p', response: 'r', id: 7 },
        { instruction: 'Translate', input: 'hello', output: '你好' },
        { instruction: 'Say hi', input: '', output: 'hi' },
        {
          messages: [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: 'b' },
          ],
        },
        [{ prompt: '问', response: [['答一', '答二']] }],
        [
          { prompt: 'q1', response: [['a1']] },
          { prompt: 'q2', response: [['a2']] },
        ],
      ) +
      '\r\n\n';
    expect(parseDatasetJsonl(text, 'SFT')).toEqual([
      { prompt: 'p', response: 'r' },
      { prompt: 'Translate\nhello', response: '你好' },
      { prompt: 'Say hi', response: 'hi' },
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      },
      { prompt: '问', response: '答一' },
      {
        messages: [
          { role: 'user', content: 'q1' },
          { role: 'assistant', content: 'a1' },
          { role: 'user', content: 'q2' },
          { role: 'assistant', content: 'a2' },
        ],
      },
    ]);
  });

  it('names the line and field of the first bad row', () => {
    const text = jsonl({ prompt: 'p', response: 'r' }, { prompt: 'p', response: 3 });
    const err = errorOf(() => parseDatasetJsonl(text, 'SFT'));
    expect(err.message).toMatch(/^line 2: "response" must be a string/);
    expect(err.path).toEqual(['line', '2', 'response']);
  });

  it('reports broken JSON with its line number, counting blank lines', () => {
    const text = `${jsonl({ prompt: 'p', response: 'r' })}\n\n{"prompt": "x", "response": `;
    const err = errorOf(() => parseDatasetJsonl(text, 'SFT'));
    expect(err.message).toMatch(/^line 3: not valid JSON/);
    expect(err.path).toEqual(['line', '3']);
  });

  it.each([
    [{ messages: [{ role: 'user', content: 'a' }] }, /must end with an assistant message/],
    [
      {
        messages: [
          { role: 'user', content: 1 },
          { role: 'assistant', content: 'x' },
        ],
      },
      /"messages\.0\.content"/,
    ],
    [[{ prompt: 'q', response: 'a' }], /"0\.response" must be a non-empty list/],
    [[], /no turns/],
    [{ text: 'x' }, /an SFT row needs/],
    ['just a string', /must be a JSON object or array/],
  ])('rejects %j', (row, message) => {
    expect(() => parseDatasetJsonl(jsonl(row), 'SFT')).toThrow(message);
  });
});

describe('parseDatasetJsonl PREFERENCE and PROMPT_ONLY', () => {
  it('reads text, chat (messages or a prompt conversation) and platform ranked forms', () => {
    const user = { role: 'user', content: 'q' };
    const text = jsonl(
      { prompt: 'p', chosen: 'good', rejected: 'bad' },
      { messages: [user], chosen: 'good', rejected: { role: 'assistant', content: 'bad' } },
      { prompt: [user], chosen: [{ role: 'assistant', content: 'good' }], rejected: 'bad' },
      [{ prompt: 'p', response: [['good'], ['bad'], ['worse']] }],
    );
    expect(parseDatasetJsonl(text, 'PREFERENCE')).toEqual([
      { prompt: 'p', chosen: 'good', rejected: 'bad' },
      { messages: [user], chosen: 'good', rejected: 'bad' },
      { messages: [user], chosen: 'good', rejected: 'bad' },
      { prompt: 'p', chosen: 'good', rejected: 'bad' },
    ]);
  });

  it('rejects a preference row without a rejected answer, or with one ranked answer', () => {
    expect(() => parseDatasetJsonl(jsonl({ prompt: 'p', chosen: 'c' }), 'PREFERENCE')).toThrow(
      /line 1: "rejected" must be a string or one assistant message/,
    );
    expect(() => parseDatasetJsonl(jsonl([{ prompt: 'p', response: [['only']] }]), 'PREFERENCE')).toThrow(
      /at least two answers/,
    );
  });

  it('reads prompts alone', () => {
    const text = jsonl({ prompt: 'a' }, [{ prompt: 'b' }], { messages: [{ role: 'user', content: 'c' }] });
    expect(parseDatasetJsonl(text, 'PROMPT_ONLY')).toEqual([
      { prompt: 'a' },
      { prompt: 'b' },
      { messages: [{ role: 'user', content: 'c' }] },
    ]);
    expect(() => parseDatasetJsonl(jsonl({ prompt: 5 }), 'PROMPT_ONLY')).toThrow(
      /line 1: "prompt" must be a string/,
    );
  });

  it('rejects an unknown kind', () => {
    expect(() => parseDatasetJsonl('', 'RL' as never)).toThrow(/unknown dataset kind "RL"/);
  });
});

describe('readDatasetFile', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataset-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads rows and names the file and line of a broken row', () => {
    const file = path.join(dir, 'train.jsonl');
    fs.writeFileSync(file, '{"prompt": "p", "response": "r"}\n{"prompt": "p"\n');
    const err = errorOf(() => readDatasetFile(file, 'SFT'));
    expect(err.message).toMatch(new RegExp(`^${file}: line 2: not valid JSON`));
    expect(err.path).toEqual([file, 'line', '2']);
    fs.writeFileSync(file, '{"prompt": "p", "response": "r"}\n');
    expect(readDatasetFile(file, 'SFT')).toEqual([{ prompt: 'p', response: 'r' }]);
  });

  it('names a missing or empty file', () => {
    expect(() => readDatasetFile(path.join(dir, 'none.jsonl'), 'SFT')).toThrow(
      /none\.jsonl: cannot read the dataset \(ENOENT\)/,
    );
    fs.writeFileSync(path.join(dir, 'empty.jsonl'), '\n\n');
    expect(() => readDatasetFile(path.join(dir, 'empty.jsonl'), 'SFT')).toThrow(
      /empty\.jsonl: the dataset has no rows/,
    );
  });
});
