/** Shared inputs of the alignment tests. */
import { SafetensorsReader } from '../../../../src/models/safetensors';
import { Batch } from '../../../../src/training/objective';
import { hfTiny } from '../../../helpers/fixtures';

/** pref_batch.safetensors as a preference Batch (and its rows without padding). */
export function prefBatch(): { batch: Batch; rows: Record<'chosen' | 'rejected', number[][]> } {
  const r = SafetensorsReader.open(hfTiny('pref_batch.safetensors'));
  const tensors: Batch['tensors'] = {};
  const rows = { chosen: [] as number[][], rejected: [] as number[][] };
  for (const side of ['chosen', 'rejected'] as const) {
    for (const kind of ['ids', 'mask']) {
      const name = `${side}_${kind}`;
      tensors[name] = {
        data: BigInt64Array.from(r.integers(name), BigInt),
        shape: r.entry(name).shape,
        dtype: 'int64',
      };
    }
    const [b, t] = r.entry(`${side}_ids`).shape;
    const ids = r.integers(`${side}_ids`);
    const mask = r.integers(`${side}_mask`);
    for (let i = 0; i < b; i++) {
      rows[side].push(
        Array.from({ length: t }, (_, j) => ids[i * t + j]).filter((_, j) => mask[i * t + j] === 1),
      );
    }
  }
  const tokens = rows.chosen.concat(rows.rejected).reduce((s, x) => s + x.length, 0);
  return { batch: { tensors, tokens, examples: rows.chosen.length }, rows };
}
