/**
 * A symbolic tensor graph with concrete static shapes. Callers build one graph per batch shape; every op
 * builder (see ops.ts) infers its output shape and dtype here, so shape errors surface while building,
 * not inside onnxruntime.
 */

/**
 * How MatMul/Gemm of float32 operands compute (precision.ts): 'float32'; 'float16': cast to float16, multiplied
 * there (WebGPU accumulates in float16) and the product cast back; 'float16-storage': operands rounded to float16
 * and back, multiplied and accumulated in float32.
 */
export type MatmulDtype = 'float32' | 'float16' | 'float16-storage';

/** 'bfloat16' only for frozen weights kept as a checkpoint stores them (Cast to float32 in the graph). */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool';
export type TypedArray = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** How a tensor enters the graph. 'param' is a runtime feed that autodiff may differentiate. */
export type TensorKind = 'input' | 'param' | 'initializer' | 'constant' | 'op';

/** ONNX attribute values: a number is an INT, number[] INTS, string STRING, {float} FLOAT, {floats} FLOATS. */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** An initializer's bytes in a file (a safetensors checkpoint): the session maps them instead of a copy. */
export interface FileSlice {
  file: string;
  offset: number;
  length: number;
}

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly name: string,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly kind: TensorKind,
    /** The node producing this tensor (kind 'op' only). */
    readonly node: Node | null,
    /** Host data (kind 'initializer' or 'constant' only). */
    readonly data: TypedArray | null,
    /** Where a file-backed initializer's bytes are (then `data` is null). */
    readonly mapped: FileSlice | null = null,
    /** The dtype of those bytes where it is not `dtype`: bfloat16 bytes emitted as float16 (Graph.halfWeights). */
    readonly mappedDtype: DType | null = null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(', ')}]`;
  }
}

export interface Node {
  readonly id: number;
  readonly opType: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: Tensor[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** A `detach` node: emitted as Identity, but autodiff stops here. */
  readonly stopGradient: boolean;
}

/**
 * Nodes start..end (ids, contiguous) computing `outputs` from `inputs` and tensors made before them, whose
 * gradient autodiff takes from a second run of `build` in the backward pass (see checkpoint.ts), or, for a fused
 * form (fused.ts), from its own `gradient`.
 */
export interface Region {
  readonly start: number;
  readonly end: number;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly build: (inputs: readonly Tensor[]) => Tensor[];
  /** The graph's matmulDtype when the region was built: its recomputation multiplies the same way. */
  readonly matmulDtype: MatmulDtype;
  /** A fused form's gradient rule: the gradients of `inputs` (null: none or not needed) from those of `outputs`. */
  readonly gradient?: FusedGradient;
}

export type FusedGradient = (
  grads: readonly (Tensor | null)[],
  need: (i: number) => boolean,
) => (Tensor | null)[];

export interface OutputSpec {
  dtype: DType;
  shape: readonly number[];
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export const isFloat = (dtype: DType): boolean =>
  dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';

export function arrayTypeFor(dtype: DType): { new (n: number): TypedArray } {
  switch (dtype) {
    case 'float32':
      return Float32Array;
    case 'float16':
    case 'bfloat16':
      return Uint16Array;
    case 'int64':
      return BigInt64Array;
    case 'int32':
      return Int32Array;
    case 'bool':
      return Uint8Array;
  }
}

/** IEEE half-precision bits of a number (round to nearest even), for float16 constants and initializers. */
export function toFloat16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (rem > midpoint || (rem === midpoint && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  if (half >> 10 >= 0x1f) e = 0x1f;
  return sign | (e === 0x1f ? 0x7c00 : half);
}

/** 16-bit float bits -> number (IEEE binary16). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let halfValues: Float32Array | undefined;
/** All 65536 binary16 values, built on first use: a lookup is much faster than decoding each element. */
function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfValues[h] = halfToFloat(h);
  }
  return halfValues;
}

/** float16 or bfloat16 bits as float32 values (exact: both widen without rounding). */
export function halfToFloat32(bits: Uint16Array, dtype: 'float16' | 'bfloat16'): Float32Array {
  if (dtype === 'bfloat16') {
    // bfloat16 is the top half of a float32: shift the bits into place.
    const wide = new Uint32Array(bits.length);
    for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
    return new Float32Array(wide.buffer);
  }
  const table = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Numbers into a typed array of `dtype`. */
export function typedArrayOf(values: ArrayLike<number>, dtype: DType): TypedArray {
  const n = values.length;
  switch (dtype) {
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(Math.trunc(values[i]));
      return out;
    }
    case 'float16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = toFloat16Bits(values[i]);
      return out;
    }
    case 'bfloat16':
      throw new Error('bfloat16 literals are not supported (bfloat16 is for mapped checkpoint weights)');
    default: {
      const out = new (arrayTypeFor(dtype))(n) as Float32Array | Int32Array | Uint8Array;
      for (let i = 0; i < n; i++) out[i] = values[i];
      return out;
    }
  }
}

function checkShape(shape: readonly number[], what: string): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${what}: shape [${shape.join(', ')}] must be non-negative integers`);
  }
}

export class Graph {
  readonly tensors: Tensor[] = [];
  /** Nodes in creation order, which is a topological order. */
  readonly nodes: Node[] = [];
  readonly outputs = new Map<string, Tensor>();
  /** How MatMul/Gemm of float32 operands compute; not 'float32' is mixed precision (see precision.ts). */
  matmulDtype: MatmulDtype = 'float32';
  /** nn.linear as MatMul(x, Transpose(W)) instead of Gemm(x, W, transB): WebGPU's Gemm with transB runs ~3x
   * slower than its plain product (profiled on an H200), while the CPU provider prefers the Gemm. */
  pretransposeWeights = false;
  /** While a checkpointed region is built or rebuilt: the token its 16-bit weight reads wait for (checkpoint.ts). */
  weightToken: Tensor | null = null;
  /** Fused forms (fused.ts) for RMSNorm, RoPE and SwiGLU: fewer nodes, hand-written gradients; off: the plain chains. */
  fuse = true;
  /**
   * Whether gradients will be taken of this graph (a training step's): forms that make their gradient in the
   * forward pass (nn.ts `linearCrossEntropy`) do so only then.
   */
  differentiated = false;
  /**
   * Linear layers reading one input (q/k/v, gate/up) as one product against their weights joined along the output
   * axis, then split (models/families/builder.ts `linears`). 'free': only where joining makes no second copy of a
   * frozen weight (trainable weights, frozen weights adjacent in their file or held as copies); 'graph': frozen
   * weights also through a Concat in the graph, which onnxruntime folds into one initializer per session (right
   * where each session holds its own copy anyway: a device's); 'off': one product per layer.
   */
  joinProjections: 'off' | 'free' | 'graph' = 'free';
  /**
   * How a checkpoint's bfloat16 frozen weights enter: 'stored' as they are (mapped); 'float16' converted when the
   * graph is emitted (WebGPU has no bfloat16 kernel at all, and float16 keeps them 16-bit on the device; exact for
   * magnitudes in float16's normal range, 6.1e-5 to 65504, refused above it).
   */
  halfWeights: 'stored' | 'float16' = 'stored';
  private readonly names = new Set<string>();
  private readonly regions = new Map<number, Region>();

  /** A runtime feed that is never differentiated (token ids, masks, optimizer scalars). */
  input(name: string, shape: readonly number[], dtype: DType): Tensor {
    return this.leaf(name, shape, dtype, 'input', null);
  }

  /** A runtime feed that autodiff may differentiate: trainable weights. */
  param(name: string, shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return this.leaf(name, shape, dtype, 'param', null);
  }

  /** A frozen weight baked into the ONNX model (loaded onto the device once). */
  initializer(name: string, data: TypedArray, shape: readonly number[], dtype: DType = 'float32'): Tensor {
    this.checkData(name, data, shape, dtype);
    return this.leaf(name, shape, dtype, 'initializer', data);
  }

  /**
   * A frozen weight whose bytes stay in a file (a checkpoint's safetensors, in its dtype): the session memory-maps
   * them, so no JavaScript copy exists and sessions of several batch shapes share the pages.
   */
  mappedInitializer(name: string, slice: FileSlice, shape: readonly number[], dtype: DType): Tensor {
    const bytes = sizeOf(shape) * new (arrayTypeFor(dtype))(0).BYTES_PER_ELEMENT;
    if (slice.length !== bytes) {
      throw new Error(
        `${name}: ${slice.length} bytes in ${slice.file} do not fill ${dtype}[${shape.join(', ')}]`,
      );
    }
    checkShape(shape, name);
    this.reserve(name);
    const converted = this.halfWeights === 'float16' && dtype === 'bfloat16';
    const t = new Tensor(
      this,
      this.tensors.length,
      name,
      [...shape],
      converted ? 'float16' : dtype,
      'initializer',
      null,
      null,
      slice,
      converted ? dtype : null,
    );
    this.tensors.push(t);
    return t;
  }

  /** A small literal: a scalar (shape []) or an array. Numbers are converted to `dtype`. */
  constant(
    value: number | readonly number[] | TypedArray,
    dtype: DType = 'float32',
    shape?: readonly number[],
  ): Tensor {
    const data =
      typeof value === 'number'
        ? typedArrayOf([value], dtype)
        : Array.isArray(value)
          ? typedArrayOf(value as readonly number[], dtype)
          : (value as TypedArray);
    const dims = shape ?? (typeof value === 'number' ? [] : [data.length]);
    this.checkData('constant', data, dims, dtype);
    return this.leaf(this.freshName('const'), dims, dtype, 'constant', data);
  }

  /** Expose `tensor` as a model output called `name`. */
  output(name: string, tensor: Tensor): void {
    this.own(tensor, `output '${name}'`);
    if (this.outputs.has(name) || this.names.has(name))
      throw new Error(`output name '${name}' is already used`);
    this.names.add(name);
    this.outputs.set(name, tensor);
  }

  /** Append a node; used by op builders after they have inferred the output specs. */
  addNode(
    opType: string,
    inputs: readonly Tensor[],
    outputSpecs: readonly OutputSpec[],
    attrs: Record<string, AttrValue> = {},
    stopGradient = false,
  ): Tensor[] {
    inputs.forEach((t) => this.own(t, opType));
    const node: Node = { id: this.nodes.length, opType, inputs, outputs: [], attrs, stopGradient };
    for (const spec of outputSpecs) {
      checkShape(spec.shape, opType);
      const t = new Tensor(
        this,
        this.tensors.length,
        this.reserve(this.freshName(opType)),
        [...spec.shape],
        spec.dtype,
        'op',
        node,
        null,
      );
      this.tensors.push(t);
      node.outputs.push(t);
    }
    this.nodes.push(node);
    return node.outputs;
  }

  /** Mark nodes as a recomputed region (checkpoint.ts) or a fused form (fused.ts); regions nest or are disjoint. */
  /** build(), with some of the settings nodes are built under changed for its duration. */
  withSettings<T>(settings: Partial<Pick<Graph, 'matmulDtype' | 'weightToken'>>, build: () => T): T {
    const previous = { matmulDtype: this.matmulDtype, weightToken: this.weightToken };
    Object.assign(this, settings);
    try {
      return build();
    } finally {
      Object.assign(this, previous);
    }
  }

  addRegion(region: Region): void {
    this.regions.set(region.end, region);
  }

  /** The outermost region whose last node is `nodeId`, if any. */
  /** Whether any frozen weight is stored in 16 bits (a checkpoint's own float16 or bfloat16 bytes). */
  get hasHalfInitializers(): boolean {
    return this.tensors.some(
      (t) => t.kind === 'initializer' && (t.dtype === 'bfloat16' || t.dtype === 'float16'),
    );
  }

  /** Whether any nodes are recomputed in the backward pass. */
  get recomputes(): boolean {
    return [...this.regions.values()].some((r) => !r.gradient);
  }

  regionEndingAt(nodeId: number): Region | undefined {
    return this.regions.get(nodeId);
  }

  /** Feeds in declaration order (inputs and params). */
  get feeds(): Tensor[] {
    return this.tensors.filter((t) => t.kind === 'input' || t.kind === 'param');
  }

  private leaf(
    name: string,
    shape: readonly number[],
    dtype: DType,
    kind: TensorKind,
    data: TypedArray | null,
  ) {
    checkShape(shape, name);
    this.reserve(name);
    const t = new Tensor(this, this.tensors.length, name, [...shape], dtype, kind, null, data);
    this.tensors.push(t);
    return t;
  }

  private freshName(prefix: string): string {
    let name = `${prefix}_${this.tensors.length}`;
    while (this.names.has(name)) name += '_';
    return name;
  }

  private reserve(name: string): string {
    if (this.names.has(name)) throw new Error(`tensor name '${name}' is already used in this graph`);
    this.names.add(name);
    return name;
  }

  private own(t: Tensor, where: string): void {
    if (t.graph !== this) throw new Error(`${where}: tensor ${t.name} belongs to another graph`);
  }

  private checkData(name: string, data: TypedArray, shape: readonly number[], dtype: DType): void {
    if (!(data instanceof arrayTypeFor(dtype))) {
      throw new Error(
        `${name}: ${dtype} data must be a ${arrayTypeFor(dtype).name}, got ${data.constructor.name}`,
      );
    }
    if (data.length !== sizeOf(shape)) {
      throw new Error(`${name}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    }
  }
}
