/**
 * Pieces every family's attention shares: the additive mask (causal + padding, with or without a static cache),
 * writing new keys/values into a cache, and scaled dot-product attention with grouped-query heads. RoPE is in
 * rope.ts.
 */
import { checkpoint } from '../../engine/checkpoint';
import { Graph, Tensor } from '../../engine/graph';
import * as nn from '../../engine/nn';
import * as op from '../../engine/ops';
import type { LayerCache } from '../types';

/**
 * Additive mask (B, 1, T, Tk): 0 where query i may read key j, the float minimum elsewhere.
 * Without a cache Tk = T and keys are causal in sequence order; with a cache the T queries sit at slots
 * slot..slot+T-1 and may read every earlier-or-same slot that `keyMask` (B, Tk) marks as a real token.
 */
export function attentionMask(g: Graph, keyMask: Tensor, t: number, slot?: Tensor): Tensor {
  if (!slot) return nn.attentionBias(g, keyMask);
  const [b, tk] = keyMask.shape;
  // Slot arithmetic in the slot's dtype: with an int32 slot it all runs on WebGPU (int64 arithmetic does not).
  const keySlots = op.reshape(op.arange(g, 0, tk, slot.dtype), [1, tk]); // (1, Tk)
  const querySlots = op.reshape(op.add(op.arange(g, 0, t, slot.dtype), slot), [t, 1]); // (T, 1)
  const causal = op.lessOrEqual(keySlots, querySlots); // (T, Tk)
  const real = op.reshape(keyMask.dtype === 'bool' ? keyMask : op.cast(keyMask, 'bool'), [b, 1, 1, tk]);
  const visible = op.and(op.reshape(causal, [1, 1, t, tk]), real); // (B, 1, T, Tk)
  return op.where(visible, g.constant(0), g.constant(nn.minValue('float32')));
}

/**
 * Write `fresh` (B, Hkv, T, D) into `cache` (B, Hkv, Tmax, D) at slots slot..slot+T-1. The indices are built in
 * the slot's dtype and cast to ScatterND's int64 last (an int32 slot keeps it all on WebGPU).
 */
export function writeCache(cache: Tensor, fresh: Tensor, slot: Tensor): Tensor {
  const g = cache.graph;
  const [b, h, t] = fresh.shape;
  const bh: number[] = [];
  for (let i = 0; i < b; i++) for (let j = 0; j < h; j++) for (let k = 0; k < t; k++) bh.push(i, j);
  const slots = op.expand(op.reshape(op.add(op.arange(g, 0, t, slot.dtype), slot), [1, 1, t, 1]), [
    b,
    h,
    t,
    1,
  ]);
  const indices = op.concat([g.constant(bh, slot.dtype, [b, h, t, 2]), slots], 3); // (B, Hkv, T, 3)
  return op.scatterND(cache, indices.dtype === 'int64' ? indices : op.cast(indices, 'int64'), fresh);
}

/** Query rows start..end of a blocked attention, reading keys 0..keys with its rows of the mask (B, 1, rows, keys). */
export interface QueryBlock {
  start: number;
  end: number;
  keys: number;
  mask: Tensor;
}

/**
 * The additive mask (B, 1, T, Tk) cut into blocks of `rows` query rows. With `causal` (no cache: key j > query i is
 * always masked) a block reads only the keys up to its last row, which skips the masked upper triangle; a query row
 * whose every key is masked (padding before a row's first token) then averages the block's keys instead of all keys,
 * which no real position reads. Built once per forward pass, so every layer reads the same slices.
 */
export function queryBlocks(mask: Tensor, rows: number, causal: boolean): QueryBlock[] {
  if (!Number.isInteger(rows) || rows < 1)
    throw new Error(`attention blocks need a positive row count, got ${rows}`);
  const [, , t, tk] = mask.shape;
  const blocks: QueryBlock[] = [];
  for (let start = 0; start < t; start += rows) {
    const end = Math.min(start + rows, t);
    const keys = causal ? end : tk;
    blocks.push({ start, end, keys, mask: op.slice(mask, [start, 0], [end, keys], [2, 3]) });
  }
  return blocks;
}

/**
 * softmax(q k^T * scale + mask) v for q (B, Tq, H, D), keys and values (B, Hkv, Tk, D) and mask (B, 1, Tq, Tk):
 * (B, Tq, H, D). Query heads h read key/value head h / (H / Hkv) (repeat_kv) by grouping the queries as
 * (B, Hkv, R*Tq, D), so keys and values are never copied per head.
 */
function attendRows(q: Tensor, keys: Tensor, values: Tensor, mask: Tensor, scale: number): Tensor {
  const [b, t, h, d] = q.shape;
  const [, hkv, tk] = keys.shape;
  const r = h / hkv;
  const grouped = op.reshape(op.transpose(op.mul(q, scale), [0, 2, 1, 3]), [b, hkv, r * t, d]); // (B, Hkv, R*T, D)
  const scores = op.reshape(op.matmul(grouped, op.transposeLast2(keys)), [b, h, t, tk]); // (B, H, T, Tk)
  const probs = op.softmax(op.add(scores, mask), -1);
  const context = op.matmul(op.reshape(probs, [b, hkv, r * t, tk]), values); // (B, Hkv, R*T, D)
  return op.transpose(op.reshape(context, [b, h, t, d]), [0, 2, 1, 3]); // (B, T, H, D)
}

/**
 * Query-blocked attention: each block of query rows is a checkpointed region (engine/checkpoint.ts), so only one
 * block's scores (B, H, rows, keys) exist at a time, in the forward pass and again, recomputed, in the backward pass
 * (the FlashAttention idea with a whole row of keys per block, so a plain softmax per block). Keys and values are
 * region inputs: each recomputation reads its own copy, which common-subexpression elimination cannot share with
 * the forward pass.
 */
function attendBlocks(
  q: Tensor,
  keys: Tensor,
  values: Tensor,
  blocks: readonly QueryBlock[],
  scale: number,
): Tensor {
  const pieces = op.split(
    q,
    blocks.map((k) => k.end - k.start),
    1,
  );
  const outputs = blocks.map(
    (block, i) =>
      checkpoint([pieces[i], keys, values], ([rows, kAll, vAll]) => {
        const visible = (x: Tensor) => (block.keys === x.shape[2] ? x : op.slice(x, [0], [block.keys], [2])); // (B, Hkv, keys, D)
        return [attendRows(rows, visible(kAll), visible(vAll), block.mask, scale)];
      })[0],
  );
  return outputs.length === 1 ? outputs[0] : op.concat(outputs, 1); // (B, T, H, D)
}

/**
 * softmax(q k^T * scale + mask) v for q (B, T, H, D) and k, v (B, Tk, Hkv, D) — or, with `cache`, k and v the
 * new tokens' entries, written into the cache first. `blocks` (queryBlocks of the mask) computes it block by
 * block. Returns the context (B, T, H*D) and the caches after the write.
 */
export function attend(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor,
  scale: number,
  cache?: { layer: LayerCache; slot: Tensor },
  blocks?: readonly QueryBlock[],
): { context: Tensor; present?: LayerCache } {
  const [b, t, h, d] = q.shape;
  let keys = op.transpose(k, [0, 2, 1, 3]); // (B, Hkv, Tk, D)
  let values = op.transpose(v, [0, 2, 1, 3]); // (B, Hkv, Tk, D)
  let present: LayerCache | undefined;
  if (cache) {
    keys = writeCache(cache.layer.key, keys, cache.slot); // (B, Hkv, Tmax, D)
    values = writeCache(cache.layer.value, values, cache.slot);
    present = { key: keys, value: values };
  }
  const merged = blocks
    ? attendBlocks(q, keys, values, blocks, scale)
    : attendRows(q, keys, values, mask, scale); // (B, T, H, D)
  return { context: op.reshape(merged, [b, t, h * d]), present };
}
