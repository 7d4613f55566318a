/**
 * Linear layers that read one input (q/k/v, gate/up) as one product: their weights joined along the output axis
 * (out_1 + out_2 + ..., in), when `Graph.joinProjections` allows it for how the weights are held:
 *
 * - trainable (policy 'full'): a Concat of the params in the graph, run each step; Concat's gradient rule splits the
 *   joined weight's gradient back into each param's.
 * - frozen and adjacent in one checkpoint file with one dtype (gate_proj then up_proj in a transformers file, whose
 *   tensors are sorted by name): one mapped initializer over their bytes, the same pages, so no copy.
 * - frozen float32 copies (a store that maps nothing): one initializer holding the joined copy instead of several.
 * - other frozen weights (q/k/v, with o_proj between them in the file), only under 'graph': a Concat of the
 *   initializers (upcast first) that onnxruntime folds into one initializer per session, which on a device is its
 *   copy anyway; under the 1 MiB folding cap of a half-precision graph with recomputation the Concat runs at each
 *   use instead, a float32 copy of one layer's joined weight while its layer runs. On the CPU, where the mapped
 *   pages are the only copy and every session shares them, 'free' leaves these unjoined.
 *
 * Frozen biases (Qwen2's q/k/v) are joined by a Concat in the graph: folded into one small initializer.
 *
 * Not joined: 16-bit frozen weights inside a recomputed region (checkpointed layers), where each use casts its
 * weight to float32 while the layer runs (engine/checkpoint.ts `upcast`): joined, that transient float32 copy is
 * the whole group's (bfloat16 gate and up of hidden 1024, intermediate 4096: memory-peak.test.ts's saving from
 * 16-bit weights fell below its 12 MiB bound).
 */
import { upcast } from '../../engine/checkpoint';
import { Tensor } from '../../engine/graph';
import * as op from '../../engine/ops';
import type { ForwardBuilder } from './builder';
import { LinearModule } from './layout';

export interface JoinedLinear {
  /** (sum of outFeatures, inFeatures), HF Linear layout. */
  weight: Tensor;
  bias?: Tensor;
  /** The modules' indices in the joined weight's row order. */
  order: number[];
}

/** The joined weight of `mods` (all HF Linear on one input), or null where it is not joined. */
export function joinedLinear(b: ForwardBuilder, mods: readonly LinearModule[]): JoinedLinear | null {
  const mode = b.g.joinProjections;
  const [first] = mods;
  const alike = mods.every(
    (m) => m.layout === 'linear' && m.inFeatures === first.inFeatures && m.bias === first.bias,
  );
  if (mode === 'off' || !alike) return null;
  const names = mods.map((m) => `${b.checkpointName(m.path)}.weight`);
  mods.forEach((m, i) => b.storedShape(names[i], [m.outFeatures, m.inFeatures]));
  const bias = () => joinedBias(b, mods);
  const identity = mods.map((_, i) => i);
  if (b.trainsBase) {
    return {
      weight: op.concat(
        names.map((n) => b.weight(n)),
        0,
      ),
      bias: bias(),
      order: identity,
    };
  }
  // Inside a recomputed region a 16-bit weight is cast at each use: joined, that float32 copy is the group's.
  const halves = names.some((n) => (b.m.weights.mapped?.(n)?.dtype ?? 'float32') !== 'float32');
  if (b.g.weightToken && halves) return null;
  const adjacent = adjacentSlices(b, names);
  if (adjacent) {
    const { order, slice, dtype } = adjacent;
    const rows = mods.reduce((s, m) => s + m.outFeatures, 0);
    const name = order.map((i) => names[i]).join('+');
    const leaf = b.frozenLeaf(name, () =>
      b.g.mappedInitializer(name, slice, [rows, first.inFeatures], dtype),
    );
    return { weight: leaf.dtype === 'float32' ? leaf : upcast(leaf), bias: bias(), order };
  }
  if (names.every((n) => !b.m.weights.mapped?.(n))) {
    const name = names.join('+');
    const leaf = b.frozenLeaf(name, () => {
      const parts = names.map((n) => b.m.weights.get(n).data);
      const data = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
      return b.g.initializer(name, data, [data.length / first.inFeatures, first.inFeatures]);
    });
    return { weight: leaf, bias: bias(), order: identity };
  }
  if (mode !== 'graph') return null;
  return {
    weight: op.concat(
      names.map((n) => b.weight(n)),
      0,
    ),
    bias: bias(),
    order: identity,
  };
}

function joinedBias(b: ForwardBuilder, mods: readonly LinearModule[]): Tensor | undefined {
  if (!mods[0].bias) return undefined;
  return op.concat(
    mods.map((m) => b.weight(`${b.checkpointName(m.path)}.bias`, [m.outFeatures])),
    0,
  );
}

/** One file range holding every named weight back to back in one dtype, and their order in it; else null. */
function adjacentSlices(b: ForwardBuilder, names: readonly string[]) {
  const mapped = names.map((n) => b.m.weights.mapped?.(n) ?? null);
  if (mapped.some((m) => !m)) return null;
  const slices = mapped.map((m) => m!);
  const { file } = slices[0].slice;
  const dtype = slices[0].dtype;
  if (slices.some((s) => s.slice.file !== file || s.dtype !== dtype)) return null;
  const order = slices.map((_, i) => i).sort((i, j) => slices[i].slice.offset - slices[j].slice.offset);
  let end = slices[order[0]].slice.offset;
  for (const i of order) {
    if (slices[i].slice.offset !== end) return null;
    end += slices[i].slice.length;
  }
  const offset = slices[order[0]].slice.offset;
  return { order, dtype, slice: { file, offset, length: end - offset } };
}
