/**
 * What a training method plugs into the trainer. An Objective builds, for one batch shape, the forward pass and
 * its loss on a Graph; the trainer adds gradients, clipping and AdamW around it (see step-graphs.ts). SFT, the
 * reward model, DPO and RL differ only in their Objective, never in the step loop.
 *
 * The loss is given as `lossSum / weight` (weight: label tokens for SFT, pairs for DPO) so that gradient
 * accumulation over micro-batches can normalise by the weight of the whole optimizer step, as the transformers
 * Trainer does with `num_items_in_batch`: accumulating k micro-batches equals one batch k times larger.
 */
import { DType, Graph, Tensor, TypedArray } from '../engine/graph';
import { MemoryLayout } from '../models/memory-layout';

/** A host tensor: data in row-major order with its shape and dtype. */
export interface HostTensor {
  data: TypedArray;
  shape: readonly number[];
  dtype: DType;
}

/**
 * One micro-batch: named tensors that become graph inputs of the same names, the number of real (non-padding)
 * tokens it holds (for throughput) and its number of examples.
 */
export interface Batch {
  tensors: Record<string, HostTensor>;
  tokens: number;
  examples: number;
}

/** A random input the objective needs every micro-step (e.g. a LoRA dropout mask), filled by the trainer's RNG. */
export interface NoiseInput {
  /** The graph input to feed. */
  input: Tensor;
  /** Bernoulli keep-mask scaled by 1 / keep (inverted dropout), with `p` the drop probability. */
  kind: 'dropout';
  p: number;
}

export interface ObjectiveOutputs {
  /** Scalar float32: the sum of the per-item losses of this micro-batch. */
  lossSum: Tensor;
  /** Scalar float32: what the loss is normalised by (loss = lossSum / weight). */
  weight: Tensor;
  /** Trainable tensors (graph params) by name; every one must reach the loss. */
  params: ReadonlyMap<string, Tensor>;
  /** Extra scalar sums reported like the loss: metric = sum / weight over the optimizer step. */
  metricSums?: Record<string, Tensor>;
  noise?: readonly NoiseInput[];
}

export interface Objective {
  /** Stable name, part of session cache keys and checkpoints. */
  readonly name: string;
  /**
   * Build the forward pass and loss for a micro-batch whose tensors are already graph inputs, in `memoryLayout`
   * (passed on to the forward pass; default the plain graph).
   */
  build(g: Graph, batch: Readonly<Record<string, Tensor>>, memoryLayout?: MemoryLayout): ObjectiveOutputs;
  /** Initial values of the trainable tensors, keyed as `ObjectiveOutputs.params`. */
  initialParameters(): ReadonlyMap<string, HostTensor>;
}
