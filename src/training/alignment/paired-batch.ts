/**
 * A preference micro-batch (chosen_* and rejected_* tensors, each side right-padded to its own length, see
 * data/batches collatePreference) as one (2B, T) batch: chosen rows first, then rejected rows, both right-padded
 * to the longer side. One forward pass then serves both answers (the model's weights appear once in the graph);
 * extra right padding is masked, so it changes no real position's output.
 */
import { Tensor } from '../../engine/graph';
import * as op from '../../engine/ops';
import { IGNORE_INDEX } from '../../data/examples';

export interface PairedInputs {
  /** (2B, T) int64 */
  inputIds: Tensor;
  /** (2B, T) int64 */
  attentionMask: Tensor;
  /** (2B, T) int64, IGNORE_INDEX on prompt and padding; only when the batch has labels. */
  labels?: Tensor;
  /** Pairs in the batch (B). */
  pairs: number;
}

function rightPadTo(x: Tensor, length: number, value: number): Tensor {
  const extra = length - x.shape[1];
  return extra === 0 ? x : op.pad(x, [0, 0, 0, extra], value);
}

function joined(chosen: Tensor, rejected: Tensor, value: number): Tensor {
  const t = Math.max(chosen.shape[1], rejected.shape[1]);
  return op.concat([rightPadTo(chosen, t, value), rightPadTo(rejected, t, value)], 0);
}

/** The batch's chosen and rejected sides stacked; `withLabels` requires `<side>_labels`. */
export function pairedInputs(
  batch: Readonly<Record<string, Tensor>>,
  what: string,
  withLabels = false,
): PairedInputs {
  const need = ['ids', 'mask', ...(withLabels ? ['labels'] : [])].flatMap((k) => [
    `chosen_${k}`,
    `rejected_${k}`,
  ]);
  const missing = need.filter((n) => !batch[n]);
  if (missing.length) {
    throw new Error(`${what}: a preference batch needs ${need.join(', ')}; missing ${missing.join(', ')}`);
  }
  return {
    inputIds: joined(batch.chosen_ids, batch.rejected_ids, 0),
    attentionMask: joined(batch.chosen_mask, batch.rejected_mask, 0),
    labels: withLabels ? joined(batch.chosen_labels, batch.rejected_labels, IGNORE_INDEX) : undefined,
    pairs: batch.chosen_ids.shape[0],
  };
}

/** (2B) -> the chosen half and the rejected half, each (B). */
export function splitPairs(values: Tensor, pairs: number): { chosen: Tensor; rejected: Tensor } {
  const [chosen, rejected] = op.split(values, [pairs, pairs], 0);
  return { chosen, rejected };
}
