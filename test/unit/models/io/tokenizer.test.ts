import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TextTokenizer } from '../../../../src/models/tokenizer';
import { loadModelConfig } from '../../../../src/models/config';
import { hfTiny } from '../../../helpers/fixtures';

const reference = JSON.parse(fs.readFileSync(hfTiny('tokenizer_reference.json'), 'utf8')) as {
  texts: string[];
  ids: number[][];
  decoded: string[];
};

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenizer-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A copy of llama-tiny's tokenizer files, with `tokenizer_config.json` changed by `edit`. */
function tokenizerCopy(
  edit: (config: Record<string, unknown>) => Record<string, unknown>,
  withJinja = false,
) {
  fs.copyFileSync(hfTiny('llama-tiny', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const config = JSON.parse(fs.readFileSync(hfTiny('llama-tiny', 'tokenizer_config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(edit(config)));
  if (withJinja)
    fs.copyFileSync(hfTiny('llama-tiny', 'chat_template.jinja'), path.join(dir, 'chat_template.jinja'));
  return dir;
}

describe('TextTokenizer on llama-tiny', () => {
  const tok = TextTokenizer.load(hfTiny('llama-tiny'));

  it('reproduces the ids and decoded texts of the Python tokenizers library', () => {
    reference.texts.forEach((text, i) => {
      expect(tok.encode(text)).toEqual(reference.ids[i]);
      expect(tok.decode(reference.ids[i], { skipSpecialTokens: true })).toBe(reference.decoded[i]);
    });
  });

  it('adds <s> only with special tokens, and keeps it when decoding by default', () => {
    const text = reference.texts[0];
    expect(tok.encode(text, { addSpecialTokens: false })).toEqual(reference.ids[0].slice(1));
    expect(tok.decode(reference.ids[0])).toBe(`<s>${text}`);
  });

  it('resolves special ids from tokenizer_config.json', () => {
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId]).toEqual([1, 2, 0]);
    expect(tok.specialTokens).toEqual({ bos: '<s>', eos: '</s>', pad: '<pad>', unk: null });
    expect(tok.vocabSize).toBe(512);
    expect(tok.tokenToId('</s>')).toBe(2);
  });

  it('renders chat_template.jinja', () => {
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ];
    expect(tok.applyChatTemplate(messages)).toBe('<|user|>hi</s><|assistant|>hello</s>');
    expect(tok.applyChatTemplate(messages.slice(0, 1), { addGenerationPrompt: true })).toBe(
      '<|user|>hi</s><|assistant|>',
    );
  });
});

describe('TextTokenizer sources and fallbacks', () => {
  it('reads a chat template from tokenizer_config.json and special tokens given as AddedToken objects', () => {
    const folder = tokenizerCopy((c) => ({
      ...c,
      bos_token: { __type: 'AddedToken', content: '<s>', lstrip: false },
      chat_template: '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}',
    }));
    const tok = TextTokenizer.load(folder);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('<s>[user]x');
  });

  it('prefers chat_template.jinja over tokenizer_config.json, as transformers does', () => {
    const folder = tokenizerCopy((c) => ({ ...c, chat_template: 'config template' }), true);
    expect(TextTokenizer.load(folder).applyChatTemplate([{ role: 'user', content: 'x' }])).toBe(
      '<|user|>x</s>',
    );
  });

  it('falls back to the model config for special ids the tokenizer config lacks', () => {
    const folder = tokenizerCopy(({ pad_token: _, ...c }) => c);
    expect(TextTokenizer.load(folder).padTokenId).toBeNull();
    const config = loadModelConfig(hfTiny('llama-tiny', 'config.json'));
    expect(TextTokenizer.load(folder, config).padTokenId).toBe(0);
  });

  it('surfaces template errors and raise_exception as user errors', () => {
    const folder = tokenizerCopy((c) => ({
      ...c,
      chat_template: "{% if messages[0].role != 'system' %}{{ raise_exception('system first') }}{% endif %}",
    }));
    expect(() => TextTokenizer.load(folder).applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      /chat template of .* failed: system first/,
    );
  });
});

describe('bad tokenizer folders', () => {
  it('names a missing tokenizer.json', () => {
    expect(() => TextTokenizer.load(dir)).toThrow(`${dir} has no tokenizer.json`);
  });

  it('names malformed JSON files', () => {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model":');
    expect(() => TextTokenizer.load(dir)).toThrow(new RegExp(`${dir}/tokenizer.json: not valid JSON`));
    const folder = tokenizerCopy((c) => c);
    fs.writeFileSync(path.join(folder, 'tokenizer_config.json'), '[]');
    expect(() => TextTokenizer.load(folder)).toThrow(
      /tokenizer_config.json: not valid JSON \(not a JSON object\)/,
    );
  });

  it('names a tokenizer model the library cannot build', () => {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'Nope' } }));
    expect(() => TextTokenizer.load(dir)).toThrow(/tokenizer.json: not a tokenizer this library can load/);
  });

  it('explains that chat rows need a chat template', () => {
    const folder = tokenizerCopy((c) => c);
    expect(() => TextTokenizer.load(folder).applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      /has no chat template .* so chat \("messages"\) rows cannot be rendered/,
    );
  });
});
