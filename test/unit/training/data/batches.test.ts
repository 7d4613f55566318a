import { SafetensorsReader } from '../../../../src/models/safetensors';
import { TextTokenizer } from '../../../../src/models/tokenizer';
import { collatePreference, collateSft, exampleData, padTokenIdOf } from '../../../../src/training/batches';
import {
  parseDatasetJsonl,
  PreferenceRow,
  SftRow,
  tokenizePreferenceRows,
  tokenizeSftRows,
} from '../../../../src/data';
import type { HostTensor } from '../../../../src/training/objective';
import { hfTiny } from '../../../helpers/fixtures';

// The prompt/response pairs of the fixtures' generator (gen_fixtures.py), as a JSONL dataset.
const PAIRS: [string, string][] = [
  ['Question: what is two plus three? Answer:', ' five.'],
  ['Translate to Chinese: thank you very much.', ' 非常感谢。'],
  ['Summarise: The meeting moved to Friday.', ' Meeting moved to Friday.'],
  ['学习率', '过高会导致模型难以收敛。'],
];

const tok = TextTokenizer.load(hfTiny('llama-tiny'));
const numbers = (t: HostTensor) => Array.from(t.data as BigInt64Array, Number);

function expectEqualTo(reference: SafetensorsReader, name: string, actual: HostTensor) {
  expect(actual.dtype).toBe('int64');
  expect(actual.shape).toEqual(reference.entry(name).shape);
  expect(numbers(actual)).toEqual(reference.integers(name));
}

describe('SFT batches', () => {
  const jsonl = PAIRS.map(([prompt, response]) => JSON.stringify({ prompt, response })).join('\n');
  const rows = parseDatasetJsonl(jsonl, 'SFT') as SftRow[];

  it('equal the fixtures sft_batch exactly (plain template, right padding, labels -100 on prompt and padding)', () => {
    const { examples, skipped, truncated } = tokenizeSftRows(rows, tok, { maxSequenceLength: 256 });
    expect([skipped, truncated]).toEqual([[], 0]);
    const batch = collateSft(examples, { padTokenId: padTokenIdOf(tok) });
    const reference = SafetensorsReader.open(hfTiny('sft_batch.safetensors'));
    for (const name of ['input_ids', 'attention_mask', 'labels'])
      expectEqualTo(reference, name, batch.tensors[name]);
    expect(batch.examples).toBe(4);
    expect(batch.tokens).toBe(reference.integers('attention_mask').reduce((a, b) => a + b));
  });

  it('truncates on the right and skips rows whose prompt fills the window', () => {
    const { examples, skipped, truncated, rowIndex } = tokenizeSftRows(rows, tok, { maxSequenceLength: 12 });
    const full = tokenizeSftRows(rows, tok, { maxSequenceLength: 256 }).examples;
    const promptLengths = full.map((e) => e.labels.filter((l) => l === -100).length);
    const kept = promptLengths.map((n, i) => (n < 12 ? i : -1)).filter((i) => i >= 0);
    expect(rowIndex).toEqual(kept);
    expect(skipped.map((s) => s.row)).toEqual([0, 1, 2, 3].filter((i) => !kept.includes(i)));
    expect(skipped[0].reason).toMatch(/leaving no room for a response within maxSequenceLength 12/);
    examples.forEach((e, k) => {
      expect(e.inputIds).toEqual(full[kept[k]].inputIds.slice(0, 12));
      expect(e.labels).toEqual(full[kept[k]].labels.slice(0, 12));
    });
    expect(truncated).toBe(examples.filter((e, k) => full[kept[k]].inputIds.length > 12).length);
  });

  it('pads to a multiple without passing maxLength, and serves batches by index', () => {
    const { examples } = tokenizeSftRows(rows, tok, { maxSequenceLength: 256 });
    const longest = Math.max(...examples.map((e) => e.inputIds.length));
    expect(longest).toBe(48);
    const bucketed = collateSft(examples, { padTokenId: 0, padToMultipleOf: 20 });
    expect(bucketed.tensors.input_ids.shape).toEqual([4, 60]);
    expect(numbers(bucketed.tensors.labels).slice(48, 60)).toEqual(new Array(12).fill(-100));
    const capped = collateSft(examples, { padTokenId: 0, padToMultipleOf: 20, maxLength: 50 });
    expect(capped.tensors.labels.shape).toEqual([4, 50]);
    const data = exampleData(examples, (es) => collateSft(es, { padTokenId: 0 }));
    expect(data.size).toBe(4);
    const pair = data.batch([3, 1]);
    expect(pair.tensors.input_ids.shape).toEqual([2, examples[1].inputIds.length]);
    expect(numbers(pair.tensors.input_ids).slice(0, examples[3].inputIds.length)).toEqual(
      examples[3].inputIds,
    );
  });

  it('renders chat rows with the chat template: loss on the answer and its </s> only', () => {
    const messages = [
      { role: 'user', content: 'two plus three?' },
      { role: 'assistant', content: 'five' },
    ];
    const [chat] = tokenizeSftRows([{ messages }], tok, { maxSequenceLength: 256 }).examples;
    const promptText = '<|user|>two plus three?</s><|assistant|>';
    const prompt = tok.encode(promptText, { addSpecialTokens: false });
    const answer = tok.encode('five</s>', { addSpecialTokens: false });
    expect(answer[answer.length - 1]).toBe(2); // the template's own </s>; no second EOS is added
    expect(chat.inputIds).toEqual([...prompt, ...answer]);
    expect(chat.labels).toEqual([...prompt.map(() => -100), ...answer]);
    const [asChat] = tokenizeSftRows([{ prompt: 'two plus three?', response: 'five' }], tok, {
      maxSequenceLength: 256,
      template: 'chat',
    }).examples;
    expect(asChat).toEqual(chat);
  });

  it('names an unknown template', () => {
    expect(() => tokenizeSftRows(rows, tok, { maxSequenceLength: 64, template: 'alpaca' as never })).toThrow(
      'template must be one of plain, chat, got "alpaca"',
    );
  });
});

describe('preference batches', () => {
  const jsonl = PAIRS.map(([prompt, chosen]) =>
    JSON.stringify({ prompt, chosen, rejected: ' I do not know.' }),
  ).join('\n');
  const rows = parseDatasetJsonl(jsonl, 'PREFERENCE') as PreferenceRow[];

  it('equal the fixtures pref_batch exactly, with the DPO prompt lengths of GENERATED.md', () => {
    const { examples } = tokenizePreferenceRows(rows, tok, { maxSequenceLength: 256 });
    expect(examples.map((e) => e.promptLength)).toEqual([29, 30, 29, 2]);
    const batch = collatePreference(examples, { padTokenId: padTokenIdOf(tok) });
    const reference = SafetensorsReader.open(hfTiny('pref_batch.safetensors'));
    for (const name of ['chosen_ids', 'chosen_mask', 'rejected_ids', 'rejected_mask']) {
      expectEqualTo(reference, name, batch.tensors[name]);
    }
  });

  it('labels the answer and EOS, ignoring the prompt and padding', () => {
    const { examples } = tokenizePreferenceRows(rows, tok, { maxSequenceLength: 256 });
    const batch = collatePreference(examples, { padTokenId: 0 });
    const [, length] = batch.tensors.chosen_labels.shape;
    const labels = numbers(batch.tensors.chosen_labels);
    examples.forEach((e, b) => {
      const row = labels.slice(b * length, (b + 1) * length);
      const expected = e.chosenIds.map((id, t) => (t < e.promptLength ? -100 : id));
      expect(row).toEqual([...expected, ...new Array(length - expected.length).fill(-100)]);
    });
  });
});
