/**
 * One-shot inference helpers over `buildCausalLM` with frozen weights: logits of a padded batch, and the
 * next-token cross-entropy of each token of some sequences (what `whetstone loss` reports).
 */
import * as nn from '../engine/nn';
import { layoutGraph, providerGraph, providerInts, GraphLayout } from '../engine/layout';
import { ExecutionProvider, createSession } from '../engine/session';
import { lastTokenIndex, pickPositions } from './families/builder';
import { Graph, Tensor } from '../engine/graph';
import { buildCausalLM, CausalLMOutputs, LoadedModel, ResolvedAdapter } from './model';
import type { MemoryLayout } from './memory-layout';
import { providerMemoryLayout } from './webgpu-fit';

export interface RunOptions {
  adapter?: ResolvedAdapter;
  head?: 'lm' | 'score';
  executionProvider?: ExecutionProvider;
  threads?: number;
  /** The graph's layout; default the provider's (engine/layout). */
  graphLayout?: GraphLayout;
  /** As given; default the plain layout, on webgpu fitted to the storage-binding limit (models/webgpu-fit.ts). */
  memoryLayout?: MemoryLayout;
}

/** (B, T) rows in the provider's integer dtype (engine/layout `providerInts`). */
const intRows = (rows: readonly (readonly number[])[], dtype: 'int32' | 'int64') =>
  dtype === 'int32' ? Int32Array.from(rows.flat()) : BigInt64Array.from(rows.flat(), (v) => BigInt(v));

/**
 * The frozen forward of (B, T) rows in a graph laid out for the run (`graphLayout`, else the provider's): inputs
 * input_ids and attention_mask in the provider's integer dtype; on webgpu blocked attention, a chunked loss and a
 * sliced head where a whole tensor would exceed a storage binding (models/webgpu-fit.ts).
 */
function frozenForward(
  m: LoadedModel,
  [b, t]: readonly [number, number],
  opts: RunOptions,
): { g: Graph; out: CausalLMOutputs; attentionMask: Tensor; ints: 'int32' | 'int64' } {
  const g = opts.graphLayout ? layoutGraph(opts.graphLayout) : providerGraph(opts.executionProvider);
  const ints = providerInts(opts.executionProvider);
  const attentionMask = g.input('attention_mask', [b, t], ints);
  const virtual = opts.adapter?.kind === 'prompt' ? opts.adapter.numVirtualTokens : 0;
  const out = buildCausalLM(g, m, {
    inputIds: g.input('input_ids', [b, t], ints),
    attentionMask,
    policy: 'frozen',
    adapter: opts.adapter,
    head: opts.head,
    memoryLayout:
      opts.memoryLayout ??
      providerMemoryLayout(opts.executionProvider, undefined, m.config, { batch: b, tokens: virtual + t }),
  });
  return { g, out, attentionMask, ints };
}

/** Rows of different lengths right-padded with `pad` into (B, T), with the mask. */
export function rightPad(
  rows: readonly (readonly number[])[],
  pad = 0,
): { ids: number[][]; mask: number[][] } {
  const t = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...Array<number>(t - r.length).fill(pad)]),
    mask: rows.map((r) => [...Array<number>(r.length).fill(1), ...Array<number>(t - r.length).fill(0)]),
  };
}

/**
 * Logits (B, T, V) of a padded batch, or with `lastToken` only at each row's last real token (B, 1, V): e.g. the
 * reward of a sequence-classification model.
 */
export async function forwardLogits(
  m: LoadedModel,
  batch: { ids: readonly (readonly number[])[]; mask: readonly (readonly number[])[] },
  opts: RunOptions & { lastToken?: boolean } = {},
): Promise<{ data: Float32Array; shape: readonly number[] }> {
  const [b, t] = [batch.ids.length, batch.ids[0].length];
  const { g, out, attentionMask, ints } = frozenForward(m, [b, t], opts);
  // Picking after the head keeps one graph shape for both uses; the head is small next to the layers.
  const logits = opts.lastToken ? pickPositions(out.logits, lastTokenIndex(attentionMask)) : out.logits;
  g.output('logits', logits);
  const session = await createSession(g, {
    executionProvider: opts.executionProvider ?? 'cpu',
    threads: opts.threads,
  });
  try {
    const res = await session.run({
      input_ids: intRows(batch.ids, ints),
      attention_mask: intRows(batch.mask, ints),
    });
    return { data: res.logits.data as Float32Array, shape: logits.shape };
  } finally {
    await session.release();
  }
}

/**
 * For each sequence, the cross-entropy of predicting each of its tokens after the first from the ones before
 * (length - 1 values per sequence), all sequences run as one right-padded batch.
 */
export async function tokenLosses(
  m: LoadedModel,
  sequences: readonly (readonly number[])[],
  opts: RunOptions = {},
): Promise<number[][]> {
  const { ids, mask } = rightPad(sequences);
  const [b, t] = [ids.length, ids[0].length];
  const targets = sequences.map((s) =>
    Array.from({ length: t }, (_, j) => (j + 1 < s.length ? s[j + 1] : -100)),
  );
  const { g, ints } = buildTokenLossGraph(m, [b, t], opts);
  const session = await createSession(g, {
    executionProvider: opts.executionProvider ?? 'cpu',
    threads: opts.threads,
  });
  try {
    const res = await session.run({
      input_ids: intRows(ids, ints),
      attention_mask: intRows(mask, ints),
      targets: intRows(targets, ints),
    });
    const losses = res.losses.data as Float32Array;
    return sequences.map((s, i) => Array.from(losses.subarray(i * t, i * t + s.length - 1)));
  } finally {
    await session.release();
  }
}

/**
 * The graph of `tokenLosses` for (B, T) rows: inputs input_ids, attention_mask and targets (the next token, -100
 * where none), output `losses` (B, T), 0 where the target is -100; through the chunked head where the layout
 * chunks the loss, so no (B, T, V) logits exist then.
 */
export function buildTokenLossGraph(
  m: LoadedModel,
  [b, t]: readonly [number, number],
  opts: RunOptions = {},
): { g: Graph; ints: 'int32' | 'int64' } {
  const { g, out, ints } = frozenForward(m, [b, t], { ...opts, head: undefined });
  const labels = g.input('targets', [b, t], ints);
  const losses = out.tokenLosses
    ? out.tokenLosses(labels)
    : nn.crossEntropy(out.logits, labels, { reduction: 'none' });
  g.output('losses', losses); // (B, T)
  return { g, ints };
}

/** Mean of all token losses together (each token weighs the same, whatever its sequence). */
export function meanLoss(losses: readonly (readonly number[])[]): { loss: number; tokens: number } {
  const all = losses.flat();
  return { loss: all.reduce((s, v) => s + v, 0) / all.length, tokens: all.length };
}
