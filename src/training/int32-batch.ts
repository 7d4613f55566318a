/**
 * Batches for the WebGPU provider: its int64 support covers only indices (docs/gpu.md), so int64 masks, labels and
 * ids would make their arithmetic (casts, comparisons, the label shift) run on the CPU. Token ids, masks and labels
 * all fit in int32, and with int32 inputs the trainer's step graphs place every node on the device.
 */
import { providerInts } from '../engine/layout';
import type { ExecutionProvider } from '../engine/session';
import { Batch, HostTensor } from './objective';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** An int64 tensor as int32 (same values; refused where one does not fit); other dtypes as they are. */
export function int32Tensor(name: string, t: HostTensor): HostTensor {
  if (t.dtype !== 'int64') return t;
  const src = t.data as BigInt64Array;
  const data = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    if (v < INT32_MIN || v > INT32_MAX) throw new Error(`batch tensor '${name}': ${v} does not fit in int32`);
    data[i] = v;
  }
  return { data, shape: t.shape, dtype: 'int32' };
}

/** The batch with every int64 tensor as int32 (same values). */
export function int32Batch(batch: Batch): Batch {
  const tensors: Record<string, HostTensor> = {};
  for (const [name, t] of Object.entries(batch.tensors)) tensors[name] = int32Tensor(name, t);
  return { ...batch, tensors };
}

/** The batch in the integer dtype of graphs run on `ep` (engine/layout `providerInts`). */
export function providerBatch(batch: Batch, ep: ExecutionProvider | undefined): Batch {
  return providerInts(ep) === 'int32' ? int32Batch(batch) : batch;
}
