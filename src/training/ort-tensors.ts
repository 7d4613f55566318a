/** Host data as onnxruntime tensors (no copy: the tensor wraps the typed array). */
import * as ort from 'onnxruntime-node';
import { DType, TypedArray } from '../engine/graph';

export function ortTensor(data: TypedArray, shape: readonly number[], dtype: DType): ort.Tensor {
  if (dtype === 'bfloat16') throw new Error('bfloat16 tensors are mapped weights, never fed');
  return new ort.Tensor(dtype, data, [...shape]);
}

export function float32Tensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return ortTensor(data, shape, 'float32');
}
