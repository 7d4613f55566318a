/**
 * safetensors files: an 8-byte little-endian header length, a JSON header ({name: {dtype, shape, data_offsets}},
 * plus an optional "__metadata__" string map), then the raw little-endian bytes of every tensor.
 * No maintained npm package reads them from disk (the `safetensors` package is an abandoned 0.0.1), so this is a
 * small careful reader/writer. Reading is lazy: opening reads only the headers; each tensor is read from disk
 * when asked for, so a multi-gigabyte checkpoint never sits in memory twice. Sharded checkpoints are read through
 * `model.safetensors.index.json` as one set of names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserInputError } from '../errors';
import { halfToFloat32, toFloat16Bits } from '../engine/graph';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const FLOAT_DTYPES: readonly SafetensorsDtype[] = ['F64', 'F32', 'F16', 'BF16'];

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The file holding the tensor and its bytes' absolute [start, end) within it. */
  file: string;
  start: number;
  end: number;
}

/** Bytes of one tensor as stored (little-endian), ready to hand to ONNX or to write back unchanged. */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

/** Element data to write; 16-bit floats are given as their bits in a Uint16Array. */
export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface WritableTensor {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** The bytes, or a function that makes them when the writer reaches this tensor (models larger than memory). */
  data: TensorData | (() => TensorData);
}

const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function bad(file: string, what: string, field?: string): never {
  throw new UserInputError(`${file}: ${what}`, field ? [file, field] : [file], 'BAD_CHECKPOINT');
}

/** Bytes per read or write call; Node refuses lengths of 2 GiB and more in one call. */
const IO_CHUNK = 2 ** 30;

function readExactly(fd: number, length: number, position: number): Uint8Array {
  // A fresh ArrayBuffer so typed views over it are aligned (Buffer.allocUnsafe may hand out a pooled offset).
  const out = new Uint8Array(new ArrayBuffer(length));
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(IO_CHUNK, length - done), position + done);
    if (n === 0) break;
    done += n;
  }
  if (done !== length) throw new Error(`short read: ${done} of ${length} bytes at ${position}`);
  return out;
}

/**
 * Longest header read (as the safetensors library's own 100 MB limit, lower: real headers are kilobytes), so a
 * crafted length cannot make a reader allocate gigabytes.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

/** The header length a file's first 8 bytes declare, checked against the file size and MAX_HEADER_BYTES. */
export function headerLength(file: string, first8: Uint8Array, size: number): number {
  if (size < 8) bad(file, `not a safetensors file: ${size} bytes, shorter than the 8-byte header length`);
  const length = Buffer.from(first8.buffer, first8.byteOffset, 8).readBigUInt64LE(0);
  if (length > BigInt(size - 8))
    bad(file, `the declared header length runs past the end of the ${size}-byte file`);
  if (length > BigInt(MAX_HEADER_BYTES))
    bad(file, `the declared header is longer than ${MAX_HEADER_BYTES} bytes`);
  return Number(length);
}

/** The tensors a header describes (`length` bytes after the first 8), each checked against the file's `size`. */
export function headerEntries(
  file: string,
  headerText: string,
  length: number,
  size: number,
): { entries: TensorEntry[]; metadata: Record<string, string> } {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerText);
  } catch {
    return bad(file, 'header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    bad(file, 'header is not a JSON object');
  const dataStart = 8 + length;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const entries = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, raw]) => {
      const e = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      const dtype = e.dtype as SafetensorsDtype;
      if (!(dtype in DTYPE_BYTES))
        bad(file, `tensor "${name}" has unsupported dtype ${JSON.stringify(e.dtype)}`, name);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        bad(file, `tensor "${name}" has a malformed shape ${JSON.stringify(e.shape)}`, name);
      }
      const [begin, end] = Array.isArray(e.data_offsets) ? e.data_offsets : [NaN, NaN];
      const expected = elementCount(e.shape) * DTYPE_BYTES[dtype];
      if (!Number.isInteger(begin) || end - begin !== expected || dataStart + end > size) {
        bad(
          file,
          `tensor "${name}" (${dtype} ${JSON.stringify(e.shape)}, ${expected} bytes) has data_offsets ` +
            `${JSON.stringify(e.data_offsets)} that do not fit the ${size - dataStart} data bytes`,
          name,
        );
      }
      return { name, dtype, shape: e.shape, file, start: dataStart + begin, end: dataStart + end };
    });
  return { entries, metadata };
}

function parseHeader(file: string): { entries: TensorEntry[]; metadata: Record<string, string> } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    return bad(file, `cannot open safetensors file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = headerLength(file, size >= 8 ? readExactly(fd, 8, 0) : new Uint8Array(8), size);
    return headerEntries(file, Buffer.from(readExactly(fd, length, 8)).toString('utf8'), length, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Convert stored float bytes of any float dtype to float32. */
function toFloat32(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case 'F64':
      return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8));
    case 'BF16':
    case 'F16':
      return halfToFloat32(
        new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2),
        dtype === 'BF16' ? 'bfloat16' : 'float16',
      );
    default:
      throw new Error(`${dtype} is not a float dtype`);
  }
}

/**
 * The tensors of one safetensors file or of a sharded set, read lazily by name. Files are opened per read, so
 * a reader holds no descriptors and needs no closing.
 */
export class SafetensorsReader {
  private constructor(
    private readonly entries: Map<string, TensorEntry>,
    /** `__metadata__` of the (first) file, e.g. {"format": "pt"}. */
    readonly metadata: Record<string, string>,
  ) {}

  /** One .safetensors file. */
  static open(file: string): SafetensorsReader {
    const { entries, metadata } = parseHeader(file);
    return new SafetensorsReader(new Map(entries.map((e) => [e.name, e])), metadata);
  }

  /** A model folder: `model.safetensors.index.json` (sharded) if present, else `model.safetensors`. */
  static openFolder(folder: string): SafetensorsReader {
    const indexPath = path.join(folder, INDEX_FILE);
    if (!fs.existsSync(indexPath)) return SafetensorsReader.open(path.join(folder, SINGLE_FILE));
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    } catch (err) {
      return bad(indexPath, `not valid JSON (${(err as Error).message})`);
    }
    const weightMap = index.weight_map;
    if (typeof weightMap !== 'object' || weightMap === null)
      bad(indexPath, 'has no "weight_map" object', 'weight_map');
    const entries = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const shard of [...new Set(Object.values(weightMap))].sort()) {
      const shardPath = path.join(folder, shard);
      if (!fs.existsSync(shardPath))
        bad(indexPath, `names shard "${shard}", which is not in ${folder}`, 'weight_map');
      const parsed = parseHeader(shardPath);
      if (entries.size === 0) metadata = parsed.metadata;
      for (const e of parsed.entries) entries.set(e.name, e);
    }
    for (const [name, shard] of Object.entries(weightMap)) {
      if (entries.get(name)?.file !== path.join(folder, shard)) {
        bad(
          indexPath,
          `says tensor "${name}" is in "${shard}", but that shard does not hold it`,
          'weight_map',
        );
      }
    }
    return new SafetensorsReader(entries, metadata);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) throw new UserInputError(`checkpoint has no tensor "${name}"`, [name], 'BAD_CHECKPOINT');
    return e;
  }

  /** The stored bytes, in the stored dtype. */
  raw(name: string): RawTensor {
    const e = this.entry(name);
    const fd = fs.openSync(e.file, 'r');
    try {
      return { dtype: e.dtype, shape: e.shape, bytes: readExactly(fd, e.end - e.start, e.start) };
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A float tensor (F32, F16, BF16 or F64) as float32. */
  float32(name: string): Float32Array {
    const { dtype, bytes } = this.raw(name);
    if (!FLOAT_DTYPES.includes(dtype)) {
      throw new UserInputError(`tensor "${name}" is ${dtype}, not a float tensor`, [name], 'BAD_CHECKPOINT');
    }
    return toFloat32(dtype, bytes);
  }

  /** An integer tensor (I64, I32, I16, I8, U8, BOOL) as plain numbers; I64 values must fit 2^53. */
  integers(name: string): number[] {
    const { dtype, bytes } = this.raw(name);
    const b = bytes.buffer;
    switch (dtype) {
      case 'I64':
        return Array.from(new BigInt64Array(b), (v) => {
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
            throw new UserInputError(`tensor "${name}" holds ${v}, beyond 2^53`, [name], 'BAD_CHECKPOINT');
          }
          return Number(v);
        });
      case 'I32':
        return Array.from(new Int32Array(b));
      case 'I16':
        return Array.from(new Int16Array(b));
      case 'I8':
        return Array.from(new Int8Array(b));
      case 'U8':
      case 'BOOL':
        return Array.from(bytes);
      default:
        throw new UserInputError(
          `tensor "${name}" is ${dtype}, not an integer tensor`,
          [name],
          'BAD_CHECKPOINT',
        );
    }
  }
}

/** Float32 values as a tensor to write in `dtype` (F32, F16 or BF16, the latter rounded to nearest even). */
export function floatTensor(
  data: Float32Array,
  shape: readonly number[],
  dtype: 'F32' | 'F16' | 'BF16' = 'F32',
): WritableTensor & { data: TensorData } {
  if (dtype === 'F32') return { dtype, shape, data };
  const out = new Uint16Array(data.length);
  if (dtype === 'F16') {
    for (let i = 0; i < data.length; i++) out[i] = toFloat16Bits(data[i]);
  } else {
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < data.length; i++) {
      const b = bits[i];
      const isNaN = (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
      out[i] = isNaN ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  }
  return { dtype, shape, data: out };
}

const byteLength = (t: WritableTensor) => elementCount(t.shape) * DTYPE_BYTES[t.dtype];

function checkLength(name: string, t: WritableTensor, data: TensorData): TensorData {
  if (data.byteLength !== byteLength(t)) {
    throw new Error(
      `tensor "${name}": ${data.byteLength} bytes of data for ${t.dtype} ${JSON.stringify(t.shape)}`,
    );
  }
  return data;
}

/** Write all of `bytes` in chunks: one write call takes under 2 GiB, and tensors of large models exceed that. */
function writeFully(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength;) {
    done += fs.writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.byteLength - done));
  }
}

/**
 * Write tensors to one safetensors file, in the given order, with `__metadata__` (default {"format": "pt"}, which
 * transformers expects). The header is padded with spaces to 8 bytes, as the Python writer does.
 */
export function writeSafetensors(
  file: string,
  tensors: Record<string, WritableTensor>,
  metadata: Record<string, string> = { format: 'pt' },
): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const length = byteLength(t);
    if (typeof t.data !== 'function') checkLength(name, t, t.data);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(file, 'w');
  try {
    writeFully(fd, prefix);
    writeFully(fd, Buffer.from(json));
    for (const [name, t] of Object.entries(tensors)) {
      const data = typeof t.data === 'function' ? checkLength(name, t, t.data()) : t.data;
      writeFully(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Write a model's tensors into `folder`: one `model.safetensors` when they fit in `maxShardBytes`, else shards
 * `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json`, as transformers' save_pretrained does.
 * Weights already in the folder are replaced. Returns the files written.
 */
export function writeModelSafetensors(
  folder: string,
  tensors: Record<string, WritableTensor>,
  maxShardBytes = 5 * 2 ** 30,
): string[] {
  const shards: Record<string, WritableTensor>[] = [{}];
  let shardBytes = 0;
  let totalSize = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = byteLength(t);
    if (shardBytes > 0 && shardBytes + bytes > maxShardBytes) {
      shards.push({});
      shardBytes = 0;
    }
    shards[shards.length - 1][name] = t;
    shardBytes += bytes;
    totalSize += bytes;
  }
  fs.mkdirSync(folder, { recursive: true });
  // Earlier weights in the folder (another shard count, a stale index) would be read instead of these.
  for (const old of fs.readdirSync(folder)) {
    if (old === INDEX_FILE || /^model(-\d{5}-of-\d{5})?\.safetensors$/.test(old))
      fs.rmSync(path.join(folder, old));
  }
  if (shards.length === 1) {
    writeSafetensors(path.join(folder, SINGLE_FILE), tensors);
    return [SINGLE_FILE];
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files = shards.map((shard, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(path.join(folder, file), shard);
    for (const name of Object.keys(shard)) weightMap[name] = file;
    return file;
  });
  const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
  fs.writeFileSync(path.join(folder, INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
  return [...files, INDEX_FILE];
}
