/**
 * Emit a Graph as an ONNX ModelProto. Only nodes that reach the chosen outputs are written (dead code is
 * pruned). Large initializers can go to an external-data side file so models above protobuf's 2 GiB limit load.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { AttrValue, FileSlice, Graph, Node, Tensor, TypedArray, toFloat16Bits } from './graph';
import { ONNX_DTYPE } from './ops';

export const OPSET = 18;
const IR_VERSION = 8;
/** Offsets in the side file are page-aligned so onnxruntime can memory-map them. */
const EXTERNAL_ALIGNMENT = 4096;
const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface EmitOptions {
  /** Output names to keep (default: every `graph.output`). */
  outputs?: readonly string[];
  /** Initializers at least this large go to the side file (only when writing to a path). Default 1024 bytes. */
  externalDataThresholdBytes?: number;
  /**
   * 16-bit initializers that only reach float32 casts (through splits or reshapes) become float32 graph inputs
   * (`Emitted.fedWeights`), for sessions that share one float32 copy of them (float-weights.ts).
   */
  halfWeightsAsFeeds?: boolean;
}

export interface Emitted {
  model: onnx.IModelProto;
  /** Initializers chosen for the side file (or for in-memory buffers), in order. */
  external: Tensor[];
  /** The folder the locations of file-backed initializers are relative to (in-memory models only). */
  mappedFolder: string | null;
  /** With `halfWeightsAsFeeds`: the initializers emitted as float32 inputs, to be fed at each run. */
  fedWeights: Tensor[];
}

/** Where initializers at or above the threshold go: a side file beside the model, or named in-memory buffers. */
export type ExternalTarget = { file: string } | 'memory';

/** The location of an in-memory external initializer (one buffer per tensor, passed to the session by name). */
export const memoryLocation = (t: Tensor) => `memory/${t.id}`;

function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** An initializer's bytes as emitted: its data, or its file's bytes (bfloat16 ones converted to float16). */
export function initializerBytes(t: Tensor): Uint8Array {
  if (t.data) return bytesOf(t.data);
  const bytes = readSlice(t.mapped!);
  if (!t.mappedDtype) return bytes;
  const half = bfloat16ToFloat16(
    new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2),
    t.name,
  );
  return bytesOf(half);
}

/**
 * bfloat16 bits as float16 bits, rounded to nearest even: exact in float16's normal range (2^-14 to 65504; a
 * bfloat16 holds 8 significant bits, a float16 11), fewer bits below it. A finite value beyond 65504 is refused.
 */
function bfloat16ToFloat16(src: Uint16Array, name: string): Uint16Array {
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    bits[0] = src[i] << 16;
    const h = toFloat16Bits(f32[0]);
    if ((h & 0x7c00) === 0x7c00 && Number.isFinite(f32[0]))
      throw new Error(`${name}: ${f32[0]} is beyond float16's range (it cannot be a float16 weight)`);
    out[i] = h;
  }
  return out;
}

function externalData(location: string, offset: number, length: number): onnx.IStringStringEntryProto[] {
  return [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(length) },
  ];
}
function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.FLOATS, floats: v.floats };
}

function valueInfo(name: string, t: Tensor, dtype = t.dtype): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: { elemType: ONNX_DTYPE[dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } },
    },
  };
}

/** Nodes needed for `roots`, in topological (creation) order. */
export function liveNodes(roots: readonly Tensor[]): Node[] {
  const live = new Set<Node>();
  const stack = roots.map((t) => t.node).filter((n): n is Node => n !== null);
  while (stack.length) {
    const n = stack.pop() as Node;
    if (live.has(n)) continue;
    live.add(n);
    for (const t of n.inputs) if (t.node && !live.has(t.node)) stack.push(t.node);
  }
  return [...live].sort((a, b) => a.id - b.id);
}

function outputsOf(graph: Graph, names?: readonly string[]): [string, Tensor][] {
  const chosen = names ?? [...graph.outputs.keys()];
  if (chosen.length === 0) throw new Error('emit: the graph has no outputs');
  return chosen.map((n) => {
    const t = graph.outputs.get(n);
    if (!t) throw new Error(`emit: unknown output '${n}' (outputs: ${[...graph.outputs.keys()].join(', ')})`);
    return [n, t];
  });
}

/**
 * Build the ModelProto. Initializers at or above the threshold go to `target`: a side file (page-aligned offsets,
 * file-backed ones copied in too) or in-memory buffers; without a target they are inline. File-backed
 * initializers not written to a side file keep pointing at their file (one folder per model).
 */
export function buildModel(graph: Graph, opts: EmitOptions = {}, target?: ExternalTarget): Emitted {
  const outs = outputsOf(graph, opts.outputs);
  const nodes = liveNodes(outs.map(([, t]) => t));
  const used = new Set<Tensor>(outs.map(([, t]) => t));
  nodes.forEach((n) => n.inputs.forEach((t) => used.add(t)));

  const threshold = opts.externalDataThresholdBytes ?? 1024;
  const fed = opts.halfWeightsAsFeeds ? castOnlyHalfWeights(graph, nodes) : new Set<Tensor>();
  const external: Tensor[] = [];
  let mappedFolder: string | null = null;
  let offset = 0;
  const initializer: onnx.ITensorProto[] = [];
  for (const t of graph.tensors) {
    if (!used.has(t) || !(t.data || t.mapped) || fed.has(t)) continue;
    const proto: onnx.ITensorProto = { name: t.name, dims: [...t.shape], dataType: ONNX_DTYPE[t.dtype] };
    const length = t.data ? t.data.byteLength : t.mapped!.length;
    // bfloat16 bytes emitted as float16 are converted, so they travel as data, not as a file reference.
    const large = t.kind === 'initializer' && (length >= threshold || !!t.mappedDtype);
    const inMemory = target === 'memory' && large;
    if (target && target !== 'memory' && large) {
      offset = Math.ceil(offset / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
      proto.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      proto.externalData = externalData(target.file, offset, length);
      offset += length;
      external.push(t);
    } else if (t.mapped && !inMemory) {
      mappedFolder ??= path.dirname(t.mapped.file);
      const location = path.relative(mappedFolder, t.mapped.file);
      if (location.startsWith('..')) {
        throw new Error(`emit: file-backed initializers in two folders (${mappedFolder}, ${t.mapped.file})`);
      }
      proto.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      proto.externalData = externalData(location, t.mapped.offset, length);
    } else if (inMemory) {
      proto.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      proto.externalData = externalData(memoryLocation(t), 0, length);
      external.push(t);
    } else {
      proto.rawData = bytesOf(t.data!);
    }
    initializer.push(proto);
  }

  const node: onnx.INodeProto[] = nodes.map((n) => ({
    name: `n${n.id}_${n.opType}`,
    opType: n.opType,
    input: n.inputs.map((t) => t.name),
    output: n.outputs.map((t) => t.name),
    attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
  }));
  // Graph outputs are Identity-renamed tensors; onnxruntime folds these away.
  for (const [name, t] of outs)
    node.push({ name: `out_${name}`, opType: 'Identity', input: [t.name], output: [name] });

  const input = graph.feeds.filter((t) => used.has(t)).map((t) => valueInfo(t.name, t));
  for (const t of fed) input.push(valueInfo(t.name, t, 'float32'));
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: 'whetstone',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name: 'whetstone', node, input, initializer, output: outs.map(([n, t]) => valueInfo(n, t)) },
  };
  return { model, external, mappedFolder, fedWeights: [...fed] };
}

/** Ops that pass a tensor's values on unchanged in some arrangement (and accept any element type). */
const REARRANGING = new Set(['Split', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze']);

/**
 * 16-bit initializers (in their own dtype) whose every use is a cast to float32, directly or after rearranging
 * ops only: fed as float32 instead, every cast becomes float32 to float32 and the graph computes the same.
 */
function castOnlyHalfWeights(graph: Graph, nodes: readonly Node[]): Set<Tensor> {
  const consumers = new Map<Tensor, Node[]>();
  for (const n of nodes) {
    for (const t of n.inputs) {
      const list = consumers.get(t);
      if (list) list.push(n);
      else consumers.set(t, [n]);
    }
  }
  const FLOAT = ONNX_DTYPE.float32;
  const castsOnly = (t: Tensor): boolean =>
    (consumers.get(t) ?? []).every((n) =>
      n.opType === 'Cast'
        ? n.attrs.to === FLOAT
        : REARRANGING.has(n.opType) && n.inputs[0] === t && n.outputs.every(castsOnly),
    );
  const half = graph.tensors.filter(
    (t) => t.kind === 'initializer' && !t.mappedDtype && (t.dtype === 'bfloat16' || t.dtype === 'float16'),
  );
  return new Set(half.filter((t) => consumers.has(t) && castsOnly(t)));
}

/** The model as one in-memory protobuf (every initializer inline). Fails beyond protobuf's 2 GiB limit. */
export function emitModel(graph: Graph, opts: EmitOptions = {}): Uint8Array {
  // Without a target those would point at their file's bfloat16 bytes (placement.ts reads only the types).
  const converted = graph.tensors.find((t) => t.mappedDtype);
  if (converted)
    throw new Error(`emit: ${converted.name} is converted at emission; use createSession or writeModel`);
  const { model } = buildModel(graph, opts);
  const bytes = (model.graph?.initializer ?? []).reduce((s, t) => s + (t.rawData?.byteLength ?? 0), 0);
  if (bytes > PROTOBUF_LIMIT) {
    throw new Error(
      `emit: ${bytes} bytes of initializers exceed protobuf's 2 GiB limit; use writeModel() (external data)`,
    );
  }
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Write `modelPath` plus, when any initializer reaches the threshold, `<modelPath>.data` beside it
 * (ONNX external data). onnxruntime must then load the model from this path.
 */
export function writeModel(
  graph: Graph,
  modelPath: string,
  opts: EmitOptions = {},
): { modelPath: string; dataPath?: string } {
  const dataName = `${path.basename(modelPath)}.data`;
  const { model, external } = buildModel(graph, opts, { file: dataName });
  fs.mkdirSync(path.dirname(modelPath), { recursive: true });
  let dataPath: string | undefined;
  if (external.length) {
    dataPath = path.join(path.dirname(modelPath), dataName);
    const fd = fs.openSync(dataPath, 'w');
    try {
      let offset = 0;
      for (const t of external) {
        offset = Math.ceil(offset / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
        const bytes = initializerBytes(t);
        // Write in 1 GiB pieces: fs.writeSync rejects buffers above 2 GiB.
        for (let at = 0; at < bytes.byteLength; at += 2 ** 30) {
          const piece = bytes.subarray(at, Math.min(at + 2 ** 30, bytes.byteLength));
          fs.writeSync(fd, piece, 0, piece.byteLength, offset + at);
        }
        offset += bytes.byteLength;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  fs.writeFileSync(modelPath, onnx.ModelProto.encode(model).finish());
  return { modelPath, dataPath };
}

export function readSlice(slice: FileSlice): Uint8Array {
  const fd = fs.openSync(slice.file, 'r');
  try {
    const out = new Uint8Array(slice.length);
    for (let at = 0; at < slice.length;) {
      const n = fs.readSync(fd, out, at, Math.min(2 ** 30, slice.length - at), slice.offset + at);
      if (n === 0) throw new Error(`${slice.file}: ends before byte ${slice.offset + slice.length}`);
      at += n;
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Op types of the nodes that reach the chosen outputs (for placement tests). */
export function opTypes(graph: Graph, outputs?: readonly string[]): string[] {
  return liveNodes(outputsOf(graph, outputs).map(([, t]) => t)).map((n) => n.opType);
}
