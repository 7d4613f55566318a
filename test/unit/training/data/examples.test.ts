import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TextTokenizer } from '../../../../src/models/tokenizer';
import { tokenizePreferenceRows, tokenizePromptRows, tokenizeSftRows } from '../../../../src/data';
import { hfTiny } from '../../../helpers/fixtures';

const tok = TextTokenizer.load(hfTiny('llama-tiny'));
const encode = (text: string) => tok.encode(text, { addSpecialTokens: false });
const user = { role: 'user', content: 'two plus three?' };

describe('preference rows in chat form', () => {
  it('share the rendered prompt; each answer ends with the template EOS', () => {
    const [e] = tokenizePreferenceRows([{ messages: [user], chosen: 'five', rejected: 'six' }], tok, {
      maxSequenceLength: 256,
    }).examples;
    const prompt = encode('<|user|>two plus three?</s><|assistant|>');
    expect(e.promptLength).toBe(prompt.length);
    expect(e.chosenIds).toEqual(encode('<|user|>two plus three?</s><|assistant|>five</s>'));
    expect(e.rejectedIds).toEqual(encode('<|user|>two plus three?</s><|assistant|>six</s>'));
    expect(e.chosenIds.slice(0, prompt.length)).toEqual(prompt);
  });

  it('truncate both answers on the right and skip a prompt that fills the window', () => {
    const rows = [
      { prompt: 'Question: what is two plus three? Answer:', chosen: ' five.', rejected: ' I do not know.' },
    ];
    const full = tokenizePreferenceRows(rows, tok, { maxSequenceLength: 256 }).examples[0];
    const cut = tokenizePreferenceRows(rows, tok, { maxSequenceLength: full.promptLength + 1 });
    expect(cut.truncated).toBe(1);
    expect(cut.examples[0].chosenIds).toEqual(full.chosenIds.slice(0, full.promptLength + 1));
    const none = tokenizePreferenceRows(rows, tok, { maxSequenceLength: full.promptLength });
    expect(none.examples).toEqual([]);
    expect(none.skipped).toEqual([
      { row: 0, reason: expect.stringMatching(/leaving no room for a response/) },
    ]);
  });
});

describe('prompt-only rows', () => {
  it('encode text prompts with BOS and chat prompts through the template with the generation prompt', () => {
    const { examples } = tokenizePromptRows([{ prompt: 'hello' }, { messages: [user] }], tok, {
      maxSequenceLength: 64,
    });
    expect(examples[0].promptIds).toEqual(tok.encode('hello'));
    expect(examples[0].promptIds[0]).toBe(1);
    expect(examples[1].promptIds).toEqual(encode('<|user|>two plus three?</s><|assistant|>'));
    const short = tokenizePromptRows([{ prompt: 'hello' }], tok, { maxSequenceLength: 2 });
    expect(short.skipped[0].reason).toMatch(/leaving no room to generate within 2/);
  });
});

describe('tokenizer problems', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'examples-'));
    fs.copyFileSync(hfTiny('llama-tiny', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('needs an end-of-sequence token', () => {
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>' }));
    const noEos = TextTokenizer.load(dir);
    expect(() => tokenizeSftRows([{ prompt: 'a', response: 'b' }], noEos, { maxSequenceLength: 8 })).toThrow(
      /the tokenizer has no end-of-sequence token/,
    );
  });

  it('refuses a chat template whose prompt is not a prefix of the full conversation', () => {
    const template =
      '{% for m in messages %}{{ m.content }}{% endfor %}{% if add_generation_prompt %}<gen>{% endif %}';
    fs.writeFileSync(
      path.join(dir, 'tokenizer_config.json'),
      JSON.stringify({ eos_token: '</s>', chat_template: template }),
    );
    expect(() =>
      tokenizeSftRows(
        [{ messages: [user, { role: 'assistant', content: 'five' }] }],
        TextTokenizer.load(dir),
        {
          maxSequenceLength: 64,
        },
      ),
    ).toThrow(/renders a conversation differently with and without its last answer/);
  });
});
