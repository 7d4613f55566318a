/**
 * onnxruntime-node sessions over an emitted Graph or a model file, on an explicitly chosen execution provider.
 * An unavailable provider is an UnavailableError naming what is missing: never a silent fallback to the CPU.
 */
import type { EngineName, ProviderName } from '../vocabulary';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { UnavailableError } from '../errors';
import { cpuArena } from './allocator';
import { DType, Graph, Tensor, TypedArray, sizeOf } from './graph';
import { onnx } from 'onnx-proto';
import { FloatWeights } from './float-weights';
import { EmitOptions, buildModel, initializerBytes, memoryLocation } from './onnx';

export type ExecutionProvider = EngineName<ProviderName>;

export interface SessionOptions extends EmitOptions {
  executionProvider?: ExecutionProvider;
  /** CPU intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  /** Keep these outputs (or all: 'gpu-buffer') on the device, e.g. updated weights fed to the next step. */
  preferredOutputLocation?: ort.InferenceSession.SessionOptions['preferredOutputLocation'];
  graphOptimizationLevel?: ort.InferenceSession.SessionOptions['graphOptimizationLevel'];
  /** The provider's own options, e.g. WebGPU's `validationMode`. onnxruntime creates one WebGPU device per
   * process with the options of its first session, so a process should use one set. */
  providerOptions?: Record<string, string>;
  /**
   * Cast 16-bit initializers at each use instead of letting onnxruntime fold the casts into float32 initializers
   * (a resident float32 copy of every weight per session); asked so, a CPU session runs without the arena. Graphs
   * with recomputation always cast at each use.
   */
  castHalfWeights?: boolean;
  /**
   * On the CPU, where the casts would be folded: 16-bit frozen weights fed as float32 from this shared copy
   * (float-weights.ts), so sessions of several batch shapes hold one float32 copy between them.
   */
  floatWeights?: FloatWeights;
  /** Further onnxruntime session options (memory arena, profiling...), applied last. */
  ortOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
}

/** A feed: an ort.Tensor (possibly GPU-resident), data with its shape, or bare data whose shape the graph knows. */
export type Feed = ort.Tensor | TypedArray | { data: TypedArray; shape: readonly number[] };

const ORT_TYPE: Record<Exclude<DType, 'bfloat16'>, ort.Tensor.Type> = {
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

/** Where a session's creation went: emitting the model (protobuf) and onnxruntime building the session. */
export interface CreationSeconds {
  emit: number;
  session: number;
}

export class Session {
  constructor(
    readonly ort: ort.InferenceSession,
    /** Feed specs when the session came from a Graph: lets `run` accept bare typed arrays. */
    private readonly feedSpecs: ReadonlyMap<string, { shape: readonly number[]; dtype: DType }>,
    /** Feeds the session supplies itself at each run (shared float32 weights). */
    private readonly fixed: Readonly<Record<string, ort.Tensor>> = {},
    readonly creationSeconds: CreationSeconds = { emit: 0, session: 0 },
  ) {}

  get inputNames(): readonly string[] {
    return this.ort.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.ort.outputNames;
  }

  /** Run with every model input fed; returns the requested outputs (default all). */
  async run(feeds: Record<string, Feed>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    const inputs: Record<string, ort.Tensor> = { ...this.fixed };
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
  }

  private toTensor(name: string, feed: Feed): ort.Tensor {
    if ('dims' in feed) return feed;
    const spec = this.feedSpecs.get(name);
    const [data, shape] = ArrayBuffer.isView(feed) ? [feed, spec?.shape] : [feed.data, feed.shape];
    if (!shape) throw new Error(`feed '${name}': give {data, shape}, the model's shape is not known`);
    const dtype = spec?.dtype ?? dtypeOfArray(data);
    if (dtype === 'bfloat16') throw new Error(`feed '${name}': bfloat16 feeds are not supported`);
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

/** The largest tensor onnxruntime may fold into a new initializer in a graph with recomputation (bytes). */
const FOLD_LIMIT = String(2 ** 20);

/**
 * Initializers at least this large reach onnxruntime as named in-memory buffers rather than protobuf bytes (in a
 * graph without file-backed ones).
 */
const MEMORY_EXTERNAL_BYTES = 2 ** 20;

/**
 * Create a session from a Graph (emitted here, in memory), a model path, or model bytes.
 *
 * Weight bytes: large initializers are handed to onnxruntime as in-memory buffers (no protobuf copy, no temporary
 * file; onnxruntime copies them once, so the caller may drop its arrays after this). File-backed initializers
 * (Graph.mappedInitializer: a checkpoint's own safetensors bytes) are memory-mapped by onnxruntime from their
 * folder; with those on the CPU, MLAS pre-packing is off, so the mapped pages are the only copy of each weight
 * (pre-packing kept a copy per product layout: forward and backward).
 */
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
    // The CPU memory pattern plans a second activation-sized block from the second run on while the arena still
    // holds the first (0.5B shape, 256 tokens: 4.5 -> 3.3 GiB peak without it, no slower: bench:scale).
    ...(ep === 'cpu' ? { enableMemPattern: false } : {}),
    enableCpuMemArena: cpuArena(),
  };

  const emitStart = performance.now();
  let model: string | Uint8Array;
  const specs = new Map<string, { shape: readonly number[]; dtype: DType }>();
  const fixed: Record<string, ort.Tensor> = {};
  if (source instanceof Graph) {
    source.feeds.forEach((t: Tensor) => specs.set(t.name, { shape: t.shape, dtype: t.dtype }));
    // onnxruntime looks every external initializer up in the in-memory table once one is given, file-backed ones
    // included ("External file: model.safetensors not found"): beside file-backed ones, the others go inline.
    const fileBacked = source.tensors.some((t) => t.mapped);
    const castsAtUse = (source.recomputes || opts.castHalfWeights === true) && source.hasHalfInitializers;
    const shared = ep === 'cpu' && !castsAtUse ? opts.floatWeights : undefined;
    // Asked to cast at each use, a run frees each float32 copy after its product: without the CPU arena (one per
    // session) that memory goes back to the system instead of staying in the session's pool.
    if (ep === 'cpu' && castsAtUse && opts.castHalfWeights === true) sessionOptions.enableCpuMemArena = false;
    const emitted = buildModel(
      source,
      {
        externalDataThresholdBytes: fileBacked ? Infinity : MEMORY_EXTERNAL_BYTES,
        halfWeightsAsFeeds: !!shared,
        ...opts,
      },
      'memory',
    );
    for (const t of emitted.fedWeights) fixed[t.name] = shared!.tensor(t);
    model = onnx.ModelProto.encode(emitted.model).finish();
    sessionOptions.externalData = emitted.external.map((t) => ({
      path: memoryLocation(t),
      data: initializerBytes(t),
    }));
    if (emitted.mappedFolder || castsAtUse) {
      sessionOptions.extra = {
        ...(emitted.mappedFolder
          ? {
              session: {
                model_external_initializers_file_folder_path: emitted.mappedFolder,
                ...(ep === 'cpu' ? { disable_prepacking: '1' } : {}),
              },
            }
          : {}),
        // A graph with recomputation (or asked to) casts its 16-bit weights at each use (checkpoint.ts `upcast`):
        // folding those casts would make resident float32 copies of them all. Other graphs fold as before.
        ...(castsAtUse ? { optimization: { constant_folding_max_output_size_in_bytes: FOLD_LIMIT } } : {}),
      };
      // onnxruntime warns once per cast it leaves unfolded: by design here.
      if (castsAtUse) sessionOptions.logSeverityLevel = 3;
    }
  } else {
    model = source;
  }
  // The caller's options win; their `extra.session` entries are merged with ours.
  const { extra, ...ortOptions } = opts.ortOptions ?? {};
  Object.assign(sessionOptions, ortOptions);
  if (extra) {
    const session = { ...(sessionOptions.extra?.session ?? {}), ...(extra.session ?? {}) };
    sessionOptions.extra = { ...sessionOptions.extra, ...extra, session };
  }

  const createStart = performance.now();
  try {
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(model, sessionOptions);
    const seconds = (from: number, to: number) => (to - from) / 1000;
    return new Session(session, specs, fixed, {
      emit: seconds(emitStart, createStart),
      session: seconds(createStart, performance.now()),
    });
  } catch (err) {
    throw explainCreateError(ep, err);
  }
}
