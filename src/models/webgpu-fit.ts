/**
 * A memory layout fitted to WebGPU's storage-binding limit (engine/binding-size.ts): a tensor over it cannot exist
 * on the device however much memory is free. The two that grow with the sequence are attention's float32 scores
 * (B, H, query rows, keys) and the head's float32 logits (rows, V); the largest weight is the head (V, C), in
 * float32 at its use. The memory plan chooses a layout for memory; on WebGPU the attention block and the loss
 * chunk are then lowered, and the head sliced by vocabulary rows, until those tensors fit.
 */
import { WEBGPU_MAX_BINDING_BYTES } from '../engine/binding-size';
import type { ExecutionProvider } from '../engine/session';
import type { ModelConfig } from './config';
import type { MemoryLayout } from './memory-layout';
import { UserInputError } from '../errors';

const F32 = 4;

/** The largest power of two <= n (n >= 1). */
const floorPow2 = (n: number) => 2 ** Math.floor(Math.log2(n));

/**
 * `layout` with `attentionBlock` and `lossChunk` no larger than keeps one block's scores and one chunk's logits
 * under `limit` bytes, for `batch` rows of `tokens` tokens attending over `keys` keys (a cached prefill's slots;
 * default the tokens), and `headSlice` set where the float32 head would exceed it. Unchanged where they already
 * fit; a power of two where lowered. Refuses (UserInputError, MEMORY_BUDGET_EXCEEDED) what no block or chunk fits:
 * one query row's scores, or one token's logits.
 */
export function webgpuMemoryLayout(
  layout: MemoryLayout,
  config: Pick<ModelConfig, 'numHeads' | 'vocabSize' | 'hiddenSize'>,
  run: { batch: number; tokens: number; keys?: number },
  limit = WEBGPU_MAX_BINDING_BYTES,
): MemoryLayout {
  const keys = run.keys ?? run.tokens;
  const rowScores = run.batch * config.numHeads * keys * F32;
  const rowLogits = config.vocabSize * F32;
  if (rowScores > limit || rowLogits > limit) {
    throw new UserInputError(
      `on webgpu one query row's attention scores (${rowScores} bytes) or one token's logits (${rowLogits} ` +
        `bytes) exceed the storage-binding limit of ${limit} bytes: lower batchSize or maxSequenceLength`,
      ['hyperparameters'],
      'MEMORY_BUDGET_EXCEEDED',
    );
  }
  const fitted: MemoryLayout = { ...layout };
  const block = layout.attentionBlock ?? run.tokens;
  if (block * rowScores > limit) fitted.attentionBlock = floorPow2(limit / rowScores);
  const chunk = layout.lossChunk ?? run.batch * run.tokens;
  if (chunk * rowLogits > limit) fitted.lossChunk = floorPow2(limit / rowLogits);
  const mostRows = Math.floor(limit / (config.hiddenSize * F32));
  if (config.vocabSize > mostRows) {
    // As few slices as fit, of equal size.
    fitted.headSlice = Math.ceil(config.vocabSize / Math.ceil(config.vocabSize / mostRows));
  }
  return fitted;
}

/**
 * The layout a graph of `run`'s shape takes on `ep`: on webgpu `layout` (default the plain one) fitted by
 * `webgpuMemoryLayout`, elsewhere `layout` as given (no binding limit there).
 */
export function providerMemoryLayout(
  ep: ExecutionProvider | undefined,
  layout: MemoryLayout | undefined,
  config: Pick<ModelConfig, 'numHeads' | 'vocabSize' | 'hiddenSize'>,
  run: { batch: number; tokens: number; keys?: number },
): MemoryLayout | undefined {
  return ep === 'webgpu' ? webgpuMemoryLayout(layout ?? {}, config, run) : layout;
}
