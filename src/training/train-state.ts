/**
 * The optimizer state of a run: trainable tensors and their AdamW moments as ort.Tensor objects that go
 * straight back into the next step's session run. They may live on a device (preferredOutputLocation
 * 'gpu-buffer'); they are read back to the host only when a checkpoint needs them.
 */
import * as ort from 'onnxruntime-node';
import { LossScalerState } from '../engine/precision';
import { float32Tensor } from './ort-tensors';
import { HostTensor } from './objective';

export interface ParamState {
  value: ort.Tensor;
  expAvg: ort.Tensor;
  expAvgSq: ort.Tensor;
}

/** Host copy of one parameter's state (float32), as checkpoints store it. */
export interface HostParamState {
  shape: readonly number[];
  value: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

export class TrainState {
  constructor(
    /** Optimizer steps taken so far. */
    public step: number,
    readonly params: Map<string, ParamState>,
    /** The dynamic loss scale of a mixed-precision run (saved in checkpoints), else null. */
    public lossScaler: LossScalerState | null = null,
  ) {}

  /** Fresh state: the initial values (wrapped, never written: each step outputs new tensors) and zero moments. */
  static initial(values: ReadonlyMap<string, HostTensor>): TrainState {
    const params = new Map<string, ParamState>();
    for (const [name, t] of values) {
      if (!(t.data instanceof Float32Array))
        throw new Error(`trainable '${name}' must be float32, got ${t.dtype}`);
      const zeros = () => float32Tensor(new Float32Array(t.data.length), t.shape);
      params.set(name, {
        value: float32Tensor(t.data, t.shape),
        expAvg: zeros(),
        expAvgSq: zeros(),
      });
    }
    return new TrainState(0, params);
  }

  /** State restored from host arrays (a checkpoint). */
  static fromHost(
    step: number,
    states: ReadonlyMap<string, HostParamState>,
    lossScaler: LossScalerState | null = null,
  ): TrainState {
    const params = new Map<string, ParamState>();
    for (const [name, s] of states) {
      params.set(name, {
        value: float32Tensor(s.value, s.shape),
        expAvg: float32Tensor(s.expAvg, s.shape),
        expAvgSq: float32Tensor(s.expAvgSq, s.shape),
      });
    }
    return new TrainState(step, params, lossScaler);
  }

  /** Read every tensor back to the host (downloads device-resident tensors). */
  async toHost(): Promise<Map<string, HostParamState>> {
    const out = new Map<string, HostParamState>();
    for (const [name, s] of this.params) {
      out.set(name, {
        shape: s.value.dims,
        value: await readFloat32(s.value),
        expAvg: await readFloat32(s.expAvg),
        expAvgSq: await readFloat32(s.expAvgSq),
      });
    }
    return out;
  }

  /** Current values only (for saving a model or an adapter). */
  async valuesToHost(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, s] of this.params) {
      out.set(name, { data: await readFloat32(s.value), shape: s.value.dims, dtype: 'float32' });
    }
    return out;
  }
}

export async function readFloat32(t: ort.Tensor): Promise<Float32Array> {
  const data = t.location === 'cpu' ? t.data : await t.getData();
  if (!(data instanceof Float32Array)) throw new Error(`expected a float32 tensor, got ${t.type}`);
  return data;
}

/** A scalar output as a number. */
export async function readScalar(t: ort.Tensor): Promise<number> {
  const data = t.location === 'cpu' ? t.data : await t.getData();
  return Number(data[0]);
}
