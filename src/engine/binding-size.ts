/**
 * The WebGPU provider binds each tensor a kernel reads or writes as one storage buffer, and a binding may not
 * exceed the device's maxStorageBufferBindingSize: a larger tensor cannot exist on the device, whatever memory is
 * free. This finds, from a graph's inferred shapes alone, every tensor (feed, weight or intermediate) over it.
 */
import { Graph, Tensor, arrayTypeFor, sizeOf } from './graph';
import { liveNodes } from './onnx';

/**
 * The binding limit the WebGPU graphs are built to: 2^31 - 1 bytes, Dawn's 2 GiB limit tier (not measured on a
 * GPU here; an adapter may report less, and `oversizedTensors` takes any limit).
 */
export const WEBGPU_MAX_BINDING_BYTES = 2 ** 31 - 1;

export const tensorBytes = (t: Pick<Tensor, 'shape' | 'dtype'>): number =>
  sizeOf(t.shape) * new (arrayTypeFor(t.dtype))(0).BYTES_PER_ELEMENT;

export interface OversizedTensor {
  name: string;
  kind: Tensor['kind'];
  /** The node producing it (null for feeds and weights). */
  opType: string | null;
  dtype: Tensor['dtype'];
  shape: readonly number[];
  bytes: number;
}

/** Every tensor the outputs of `g` need (as emitted: dead nodes pruned) over `limit` bytes, largest first. */
export function oversizedTensors(g: Graph, limit = WEBGPU_MAX_BINDING_BYTES): OversizedTensor[] {
  const live = new Set<Tensor>(g.outputs.values());
  for (const n of liveNodes([...g.outputs.values()]))
    for (const t of [...n.inputs, ...n.outputs]) live.add(t);
  return [...live]
    .filter((t) => tensorBytes(t) > limit)
    .map((t) => ({
      name: t.name,
      kind: t.kind,
      opType: t.node?.opType ?? null,
      dtype: t.dtype,
      shape: t.shape,
      bytes: tensorBytes(t),
    }))
    .sort((a, b) => b.bytes - a.bytes);
}

/** Oversized tensors grouped by (producer, dtype, shape), for reports: "12 x MatMul float32[1, 32, 4096, 4096]". */
export function describeOversized(tensors: readonly OversizedTensor[]): string[] {
  const groups = new Map<string, number>();
  for (const t of tensors) {
    const key = `${t.opType ?? t.kind} ${t.dtype}[${t.shape.join(', ')}] (${(t.bytes / 2 ** 30).toFixed(2)} GiB)`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([key, n]) => `${n} x ${key}`);
}
