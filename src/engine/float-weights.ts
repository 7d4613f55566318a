/**
 * One float32 copy of each 16-bit frozen weight, shared by every CPU session given the same FloatWeights (a
 * trainer's step sessions, one per batch shape). Left to itself onnxruntime folds each session's casts of a
 * checkpoint's bfloat16 or float16 weights into float32 initializers of its own: one more float32 copy of the
 * frozen weights for every batch shape a job meets. Given a FloatWeights, those weights reach the session as
 * graph inputs instead (onnx.ts `halfWeightsAsFeeds`), fed from here at each run (the CPU reads a fed tensor in
 * place, no copy), and the casts onnxruntime then sees are float32 to float32, which it removes.
 */
import * as ort from 'onnxruntime-node';
import { Tensor, TypedArray, halfToFloat32 } from './graph';
import { readSlice } from './onnx';

export class FloatWeights {
  /** By file slice for checkpoint-mapped weights, by the array itself for weights held in memory. */
  private readonly byFile = new Map<string, ort.Tensor>();
  private readonly byData = new WeakMap<TypedArray, ort.Tensor>();

  /** The float32 values of 16-bit initializer `t`, converted on first use. */
  tensor(t: Tensor): ort.Tensor {
    if (t.dtype !== 'bfloat16' && t.dtype !== 'float16') throw new Error(`${t.name}: not a 16-bit weight`);
    const key = t.mapped ? `${t.mapped.file}\0${t.mapped.offset}\0${t.mapped.length}` : null;
    const known = key ? this.byFile.get(key) : this.byData.get(t.data!);
    if (known) return known;
    const bytes = t.mapped ? readSlice(t.mapped) : t.data!;
    const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    const made = new ort.Tensor('float32', halfToFloat32(bits, t.dtype), [...t.shape]);
    if (key) this.byFile.set(key, made);
    else this.byData.set(t.data!, made);
    return made;
  }
}
