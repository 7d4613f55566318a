/**
 * Pieces every family's attention shares: the additive mask (causal + padding, with or without a static cache),
 * writing new keys/values into a cache, and scaled dot-product attention with grouped-query heads. RoPE is in
 * rope.ts.
 */
import { Graph, Tensor } from '../../engine/graph';
import * as nn from '../../engine/nn';
import * as op from '../../engine/ops';
import { LayerCache } from '../model';

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

/**
 * softmax(q k^T * scale + mask) v for q (B, T, H, D) and k, v (B, Tk, Hkv, D) — or, with `cache`, k and v the
 * new tokens' entries, written into the cache first. Query heads h read key/value head h / (H / Hkv) (repeat_kv)
 * by grouping the queries as (B, Hkv, R*T, D), so keys and values are never copied per head.
 * Returns the context (B, T, H*D) and the caches after the write.
 */
export function attend(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor,
  scale: number,
  cache?: { layer: LayerCache; slot: Tensor },
): { context: Tensor; present?: LayerCache } {
  const [b, t, h, d] = q.shape;
  const hkv = k.shape[2];
  const r = h / hkv;
  let keys = op.transpose(k, [0, 2, 1, 3]); // (B, Hkv, Tk, D)
  let values = op.transpose(v, [0, 2, 1, 3]); // (B, Hkv, Tk, D)
  let present: LayerCache | undefined;
  if (cache) {
    keys = writeCache(cache.layer.key, keys, cache.slot); // (B, Hkv, Tmax, D)
    values = writeCache(cache.layer.value, values, cache.slot);
    present = { key: keys, value: values };
  }
  const tk = keys.shape[2];
  const grouped = op.reshape(op.transpose(op.mul(q, scale), [0, 2, 1, 3]), [b, hkv, r * t, d]); // (B, Hkv, R*T, D)
  const scores = op.reshape(op.matmul(grouped, op.transposeLast2(keys)), [b, h, t, tk]); // (B, H, T, Tk)
  const probs = op.softmax(op.add(scores, mask), -1);
  const context = op.matmul(op.reshape(probs, [b, hkv, r * t, tk]), values); // (B, Hkv, R*T, D)
  const merged = op.transpose(op.reshape(context, [b, h, t, d]), [0, 2, 1, 3]); // (B, T, H, D)
  return { context: op.reshape(merged, [b, t, h * d]), present };
}
