import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDemoModel } from '../../../src/models/demo';
import { TextTokenizer } from '../../../src/models/tokenizer';
import { TextStream } from '../../../src/models/text-stream';
import { hfTiny } from '../../helpers/fixtures';

/** Every piece handed out while the ids arrive one at a time. */
function pieces(decode: (ids: readonly number[]) => string, ids: readonly number[]): string[] {
  const stream = new TextStream(decode);
  return ids.map((_, i) => stream.push(ids.slice(0, i + 1)));
}

describe('TextStream', () => {
  const demoDir = mkdtempSync(path.join(os.tmpdir(), 'whetstone-text-stream-'));
  writeDemoModel(demoDir);
  const tokenizers = {
    'the demo model (one token per byte)': TextTokenizer.load(demoDir),
    'llama-tiny (byte-level BPE)': TextTokenizer.load(hfTiny('llama-tiny')),
  };

  it.each(Object.entries(tokenizers))(
    'hands out the whole decode, piece by piece, never half a character: %s',
    (_, tok) => {
      const text = 'Héllo, 世界! 🙂 tokens\nstream in order.';
      const ids = tok.encode(text, { addSpecialTokens: false });
      const decode = (x: readonly number[]) => tok.decode(x, { skipSpecialTokens: true });
      const out = pieces(decode, ids);
      expect(out.join('')).toBe(decode(ids));
      expect(out.join('')).toBe(text);
      expect(out.some((p) => p.includes('\uFFFD'))).toBe(false);
      // A 4-byte emoji is held back until its last byte arrives (one token per byte on the demo tokenizer).
      expect(out.filter((p) => p === '').length).toBeGreaterThan(0);
    },
  );

  it('keeps the spaces a decoder drops at the start of a sequence (SentencePiece)', () => {
    const vocab = ['▁Hello', ',', '▁wor', 'ld', '▁again'];
    const decode = (ids: readonly number[]) =>
      ids
        .map((i) => vocab[i])
        .join('')
        .replace(/▁/g, ' ')
        .replace(/^ /, '');
    const out = pieces(decode, [0, 1, 2, 3, 4]);
    expect(out).toEqual(['Hello', ',', ' wor', 'ld', ' again']);
  });
});
