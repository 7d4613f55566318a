/**
 * Examples -> padded micro-batches for the trainer. Sequences are right-padded with the pad id to the longest in
 * the batch (rounded up to `padToMultipleOf`, so few distinct shapes reach the graph compiler); the attention
 * mask is 1 on real tokens, and labels are IGNORE_INDEX on padding. All tensors are int64 (B, T), named as the
 * fixtures' batches are.
 */
import type { TextTokenizer } from '../models/tokenizer';
import type { Batch, HostTensor } from './objective';
import type { TrainingData } from './loop';
import { IGNORE_INDEX, PreferenceExample, SftExample } from '../data/examples';

export interface CollateOptions {
  padTokenId: number;
  /** Pad the sequence length up to a multiple of this (default 1)... */
  padToMultipleOf?: number;
  /** ...but never beyond this length (e.g. the model's position limit). */
  maxLength?: number;
}

/** The pad id to use: the tokenizer's, else EOS (padding is masked out, so its value never reaches the loss). */
export function padTokenIdOf(tok: TextTokenizer): number {
  const id = tok.padTokenId ?? tok.eosTokenId;
  if (id === null)
    throw new Error(`${tok.folder}: the tokenizer has neither a pad nor an end-of-sequence token`);
  return id;
}

/** Rows of ids, right-padded into one (B, T) int64 tensor, with the (B, T) mask of real positions. */
function padRows(
  rows: readonly (readonly number[])[],
  fill: number,
  length: number,
): { ids: HostTensor; mask: HostTensor } {
  const ids = new BigInt64Array(rows.length * length).fill(BigInt(fill)); // (B, T)
  const mask = new BigInt64Array(rows.length * length); // (B, T)
  rows.forEach((row, b) => {
    for (let t = 0; t < row.length; t++) {
      ids[b * length + t] = BigInt(row[t]);
      mask[b * length + t] = 1n;
    }
  });
  const shape = [rows.length, length];
  return { ids: { data: ids, shape, dtype: 'int64' }, mask: { data: mask, shape, dtype: 'int64' } };
}

function paddedLength(rows: readonly (readonly number[])[], o: CollateOptions): number {
  const longest = Math.max(...rows.map((r) => r.length));
  const multiple = o.padToMultipleOf ?? 1;
  return Math.max(longest, Math.min(Math.ceil(longest / multiple) * multiple, o.maxLength ?? Infinity));
}

const tokenCount = (rows: readonly (readonly number[])[]) => rows.reduce((n, r) => n + r.length, 0);

/** SFT micro-batch: `input_ids`, `attention_mask`, `labels`, each (B, T). */
export function collateSft(examples: readonly SftExample[], o: CollateOptions): Batch {
  const inputs = examples.map((e) => e.inputIds);
  const length = paddedLength(inputs, o);
  const { ids, mask } = padRows(inputs, o.padTokenId, length);
  const labels = padRows(
    examples.map((e) => e.labels),
    IGNORE_INDEX,
    length,
  ).ids;
  return {
    tensors: { input_ids: ids, attention_mask: mask, labels },
    tokens: tokenCount(inputs),
    examples: examples.length,
  };
}

/** Labels of a preference sequence: its ids after the prompt (through EOS), IGNORE_INDEX on the prompt. */
const answerLabels = (ids: readonly number[], promptLength: number) =>
  ids.map((id, t) => (t < promptLength ? IGNORE_INDEX : id));

/**
 * Preference micro-batch: `chosen_ids`/`chosen_mask`/`chosen_labels` and the same for `rejected_`, each side
 * padded to its own longest sequence, as the fixtures' pref_batch is.
 */
export function collatePreference(examples: readonly PreferenceExample[], o: CollateOptions): Batch {
  const tensors: Record<string, HostTensor> = {};
  let tokens = 0;
  for (const side of ['chosen', 'rejected'] as const) {
    const rows = examples.map((e) => (side === 'chosen' ? e.chosenIds : e.rejectedIds));
    const length = paddedLength(rows, o);
    const { ids, mask } = padRows(rows, o.padTokenId, length);
    const labels = padRows(
      rows.map((r, i) => answerLabels(r, examples[i].promptLength)),
      IGNORE_INDEX,
      length,
    ).ids;
    Object.assign(tensors, { [`${side}_ids`]: ids, [`${side}_mask`]: mask, [`${side}_labels`]: labels });
    tokens += tokenCount(rows);
  }
  return { tensors, tokens, examples: examples.length };
}

/** Examples as the trainer's data source: micro-batches collated on demand from example indices. */
export function exampleData<E>(examples: readonly E[], collate: (batch: E[]) => Batch): TrainingData {
  return {
    size: examples.length,
    batch: (indices) => collate(indices.map((i) => examples[i])),
  };
}
