/**
 * onnxruntime-node sessions over an emitted Graph or a model file, on an explicitly chosen execution provider.
 * An unavailable provider is an UnavailableError naming what is missing: never a silent fallback to the CPU.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { UnavailableError } from '../errors';
import { DType, Graph, Tensor, TypedArray, sizeOf } from './graph';
import { EmitOptions, emitModel, writeModel } from './onnx';

export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda';

export interface SessionOptions extends EmitOptions {
  executionProvider?: ExecutionProvider;
  /** CPU intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  /** Keep these outputs (or all: 'gpu-buffer') on the device, e.g. updated weights fed to the next step. */
  preferredOutputLocation?: ort.InferenceSession.SessionOptions['preferredOutputLocation'];
  /** Where to write model.onnx (+ external data) when the source is a Graph. Default: in memory when the
   * initializers total under `inMemoryLimitBytes`, else a fresh temporary folder. */
  modelDir?: string;
  inMemoryLimitBytes?: number;
  graphOptimizationLevel?: ort.InferenceSession.SessionOptions['graphOptimizationLevel'];
  /** The provider's own options, e.g. WebGPU's `validationMode`. onnxruntime creates one WebGPU device per
   * process with the options of its first session, so a process should use one set. */
  providerOptions?: Record<string, string>;
  /** Further onnxruntime session options (memory arena, profiling...), applied last. */
  ortOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
}

/** A feed: an ort.Tensor (possibly GPU-resident), data with its shape, or bare data whose shape the graph knows. */
export type Feed = ort.Tensor | TypedArray | { data: TypedArray; shape: readonly number[] };

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
};

function dtypeOfArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint16Array) return 'float16';
  return 'bool';
}

/** Throws UnavailableError when `ep` cannot run here; resolves with the onnxruntime provider name. */
export function checkExecutionProvider(ep: ExecutionProvider): string {
  const backends = ort.listSupportedBackends();
  const entry = backends.find((b) => b.name === ep);
  if (ep === 'cpu') return 'cpu';
  if (!entry) {
    throw new UnavailableError(
      `execution provider '${ep}' is not built into this onnxruntime-node (${backends.map((b) => b.name).join(', ')})`,
    );
  }
  if (ep === 'cuda') {
    // The binding lives in <package>/bin/napi-v6/<platform>/<arch>/ beside <package>/dist/.
    const pkg = path.dirname(path.dirname(require.resolve('onnxruntime-node')));
    const dir = path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
    const lib = path.join(dir, 'libonnxruntime_providers_cuda.so');
    if (!entry.bundled && !fs.existsSync(lib)) {
      throw new UnavailableError(
        `execution provider 'cuda' is unavailable: the CUDA provider libraries of onnxruntime-node are not installed ` +
          `(${lib} is missing; it was installed with its CUDA download skipped). Reinstall onnxruntime-node with ` +
          `--onnxruntime-node-install=cuda12 on a machine with network access, CUDA 12 and cuDNN 9.`,
      );
    }
  }
  return ep;
}

function explainCreateError(ep: ExecutionProvider, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (ep === 'webgpu' && /adapter/i.test(msg)) {
    return new UnavailableError(
      `execution provider 'webgpu' is unavailable: no GPU adapter found (onnxruntime's WebGPU provider reaches ` +
        `the GPU through Vulkan; check libvulkan1 and the GPU's Vulkan driver). onnxruntime said: ${msg.trim()}`,
    );
  }
  if (ep === 'cuda' && /load|shared library|cuda/i.test(msg)) {
    return new UnavailableError(`execution provider 'cuda' is unavailable: ${msg.trim()}`);
  }
  return err instanceof Error ? err : new Error(msg);
}

export class Session {
  constructor(
    readonly ort: ort.InferenceSession,
    /** Feed specs when the session came from a Graph: lets `run` accept bare typed arrays. */
    private readonly feedSpecs: ReadonlyMap<string, { shape: readonly number[]; dtype: DType }>,
    /** A temporary folder this session owns (deleted on release). */
    private readonly tempDir?: string,
  ) {}

  get inputNames(): readonly string[] {
    return this.ort.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.ort.outputNames;
  }

  /** Run with every model input fed; returns the requested outputs (default all). */
  async run(feeds: Record<string, Feed>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      if (!this.ort.inputNames.includes(name)) {
        throw new Error(`unknown feed '${name}' (model inputs: ${this.ort.inputNames.join(', ')})`);
      }
      inputs[name] = this.toTensor(name, feed);
    }
    const missing = this.ort.inputNames.filter((n) => !(n in inputs));
    if (missing.length) throw new Error(`missing feeds: ${missing.join(', ')}`);
    const result = fetches ? await this.ort.run(inputs, fetches) : await this.ort.run(inputs);
    return result as Record<string, ort.Tensor>;
  }

  async release(): Promise<void> {
    await this.ort.release();
    if (this.tempDir) fs.rmSync(this.tempDir, { recursive: true, force: true });
  }

  private toTensor(name: string, feed: Feed): ort.Tensor {
    if ('dims' in feed) return feed;
    const spec = this.feedSpecs.get(name);
    const [data, shape] = ArrayBuffer.isView(feed) ? [feed, spec?.shape] : [feed.data, feed.shape];
    if (!shape) throw new Error(`feed '${name}': give {data, shape}, the model's shape is not known`);
    const dtype = spec?.dtype ?? dtypeOfArray(data);
    if (data.length !== sizeOf(shape)) {
      throw new Error(`feed '${name}': ${data.length} values do not fill shape [${shape.join(', ')}]`);
    }
    return new ort.Tensor(ORT_TYPE[dtype], data, [...shape]);
  }
}

/**
 * WebGPU storage buffers reused by exact size: a training step asks for the same buffers every run, while the
 * default size buckets keep only a few buffers per size and create the rest anew each step (~0.3 ms of host time
 * each on an H200, ~120 ms a step for the larger GPU-check model).
 */
const WEBGPU_DEFAULTS: Record<string, string> = { storageBufferCacheMode: 'simple' };

/** Create a session from a Graph (emitted here), a model path, or model bytes. */
export async function createSession(
  source: Graph | string | Uint8Array,
  opts: SessionOptions = {},
): Promise<Session> {
  const ep = opts.executionProvider ?? 'cpu';
  const provider = checkExecutionProvider(ep);
  const providerOptions = { ...(ep === 'webgpu' ? WEBGPU_DEFAULTS : {}), ...opts.providerOptions };
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [{ name: provider, ...providerOptions }],
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    ...(opts.preferredOutputLocation ? { preferredOutputLocation: opts.preferredOutputLocation } : {}),
    ...opts.ortOptions,
  };

  let model: string | Uint8Array;
  let tempDir: string | undefined;
  const specs = new Map<string, { shape: readonly number[]; dtype: DType }>();
  if (source instanceof Graph) {
    source.feeds.forEach((t: Tensor) => specs.set(t.name, { shape: t.shape, dtype: t.dtype }));
    const initBytes = source.tensors.reduce(
      (s, t) => s + (t.kind === 'initializer' && t.data ? t.data.byteLength : 0),
      0,
    );
    if (opts.modelDir || initBytes >= (opts.inMemoryLimitBytes ?? 256 * 2 ** 20)) {
      const dir = opts.modelDir ?? (tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-model-')));
      model = writeModel(source, path.join(dir, 'model.onnx'), opts).modelPath;
    } else {
      model = emitModel(source, opts);
    }
  } else {
    model = source;
  }

  try {
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(model, sessionOptions);
    return new Session(session, specs, tempDir);
  } catch (err) {
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    throw explainCreateError(ep, err);
  }
}
