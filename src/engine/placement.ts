/**
 * Which nodes of a graph an execution provider would leave to the CPU.
 *
 * - `fallbackNodes` / `assertGpuPlaceable`: a static check against WEBGPU_KERNELS, the table of (op, input dtypes)
 *   that onnxruntime-node's WebGPU provider places on the device at our opset (measured from the shipped binary by
 *   scripts/gpu/probe-kernels.ts). No GPU needed: CPU tests run it on every graph the engine emits.
 * - `observePlacements` / `runtimeFallbacks`: what onnxruntime actually did, read from a session's verbose log
 *   ("Node(s) placed on [...]"). onnxruntime writes that log to the native stderr, so sessions are created in a
 *   child process; this needs a WebGPU adapter (a GPU, or Mesa's lavapipe on the CPU: scripts/gpu/lavapipe.sh).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { UnavailableError } from '../errors';
import { DType, Graph } from './graph';
import { buildModel, writeModel } from './onnx';
import { ONNX_DTYPE } from './ops';
import { KernelTable, WEBGPU_KERNELS } from './webgpu-kernels';

export type PlacementProvider = 'webgpu';

export interface Fallback {
  /** Node name as emitted and as onnxruntime logs it (`n<id>_<OpType>`, `out_<output>`). */
  node: string;
  opType: string;
  /** Input dtypes the kernel lookup saw, e.g. 'int64,int64' (Cast adds '->' and the target dtype). */
  signature: string;
  reason: string;
  /** An input comes from a node on the device: the fallback forces a device-to-host copy mid-run. */
  afterDevice: boolean;
}

const TABLES: Record<PlacementProvider, KernelTable> = { webgpu: WEBGPU_KERNELS };

const DTYPE_OF_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

const BOOL_OUTPUT = new Set([
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'And',
  'Or',
  'Not',
]);

function elemDtype(info: onnx.IValueInfoProto): DType | undefined {
  return DTYPE_OF_CODE.get(info.type?.tensorType?.elemType ?? -1);
}

/** Output dtype of a node from its input dtypes: enough for the ops of the table (the rest stay unknown). */
function outputDtype(n: onnx.INodeProto, inputs: (DType | undefined)[]): DType | undefined {
  const op = n.opType ?? '';
  if (BOOL_OUTPUT.has(op)) return 'bool';
  if (op === 'Cast') return DTYPE_OF_CODE.get(Number(n.attribute?.find((a) => a.name === 'to')?.i ?? -1));
  if (op === 'Shape') return 'int64';
  if (op === 'Where') return inputs[1];
  return inputs[0];
}

/** Dtype of every tensor name: declared ones (inputs, initializers, value_info, outputs), the rest propagated. */
function tensorDtypes(model: onnx.IModelProto): Map<string, DType | undefined> {
  const g = model.graph ?? {};
  const types = new Map<string, DType | undefined>();
  for (const v of [...(g.input ?? []), ...(g.valueInfo ?? []), ...(g.output ?? [])])
    types.set(v.name ?? '', elemDtype(v));
  for (const t of g.initializer ?? []) types.set(t.name ?? '', DTYPE_OF_CODE.get(t.dataType ?? -1));
  for (const n of g.node ?? []) {
    const out = outputDtype(
      n,
      (n.input ?? []).map((i) => types.get(i)),
    );
    for (const o of n.output ?? []) if (!types.has(o)) types.set(o, out);
  }
  return types;
}

function defaultOpset(model: onnx.IModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain);
  return Number(entry?.version ?? 0);
}

/** The kernel-lookup signature of a node: dtypes of the inputs the table keys on (+ '->' output for Cast). */
function signatureOf(
  n: onnx.INodeProto,
  key: readonly number[],
  withOutput: boolean,
  types: Map<string, DType | undefined>,
): string {
  const ins = key.map((i) => types.get(n.input?.[i] ?? '') ?? '?').join(',');
  return withOutput ? `${ins}->${types.get(n.output?.[0] ?? '') ?? '?'}` : ins;
}

/**
 * Nodes of `source` (a Graph, emitted as onnxruntime would receive it, or an ONNX model) that `provider` would not
 * place on the device, with the reason. Conservative: an op or dtype combination the table never measured is
 * reported too. Nodes whose inputs are all constants are left out: onnxruntime folds them before placement (at
 * every optimization level but 'disabled'; the engine's sessions use 'all').
 */
export function fallbackNodes(
  source: Graph | onnx.IModelProto,
  provider: PlacementProvider = 'webgpu',
): Fallback[] {
  const table = TABLES[provider];
  const model = source instanceof Graph ? buildModel(source).model : source;
  const opset = defaultOpset(model);
  if (opset !== table.opset) {
    throw new Error(
      `placement: the ${provider} table was measured at opset ${table.opset}, the model uses ${opset}; ` +
        `re-run scripts/gpu/probe-kernels.ts`,
    );
  }
  const types = tensorDtypes(model);
  const constant = new Set((model.graph?.initializer ?? []).map((t) => t.name ?? ''));
  const onDevice = new Set<string>(); // tensors produced by nodes placed on the device
  const out: Fallback[] = [];
  for (const n of model.graph?.node ?? []) {
    if ((n.input ?? []).every((i) => !i || constant.has(i))) {
      (n.output ?? []).forEach((o) => constant.add(o));
      continue;
    }
    const opType = n.opType ?? '';
    const entry = n.domain ? undefined : table.ops[opType];
    const signature = entry
      ? signatureOf(n, entry.key, entry.output === true, types)
      : (n.input ?? []).map((i) => types.get(i) ?? '?').join(',');
    let reason: string | null = null;
    if (!entry) reason = `${n.domain ? `${n.domain}.` : ''}${opType} was not measured`;
    else if (entry.device.includes(signature)) reason = null;
    else if (entry.device.length === 0) reason = `no ${provider} kernel for ${opType}`;
    else if (entry.host.includes(signature))
      reason = `the ${provider} ${opType} kernel does not take ${signature}`;
    else reason = `${opType}(${signature}) was not measured`;
    if (reason === null) {
      (n.output ?? []).forEach((o) => onDevice.add(o));
      continue;
    }
    out.push({
      node: n.name ?? '',
      opType,
      signature,
      reason,
      afterDevice: (n.input ?? []).some((i) => onDevice.has(i)),
    });
  }
  return out;
}

/** One line per fallback, for error messages and reports. */
export function describeFallbacks(fallbacks: readonly Fallback[]): string {
  return fallbacks
    .map(
      (f) =>
        `  ${f.node} ${f.opType}(${f.signature}): ${f.reason}${f.afterDevice ? ' [device->host copy]' : ''}`,
    )
    .join('\n');
}

/** Throw, listing them, when any node of `graph` would fall back to the CPU under `provider`. */
export function assertGpuPlaceable(
  graph: Graph | onnx.IModelProto,
  provider: PlacementProvider = 'webgpu',
): void {
  const fallbacks = fallbackNodes(graph, provider);
  if (fallbacks.length) {
    throw new Error(
      `${fallbacks.length} node(s) would run on the CPU instead of ${provider}:\n${describeFallbacks(fallbacks)}`,
    );
  }
}

// ---- runtime placement, from onnxruntime's verbose session log ----

export interface PlacedNode {
  opType: string;
  name: string;
}

export interface ObservedPlacement {
  /** Node count per onnxruntime provider name (e.g. WebGpuExecutionProvider, CPUExecutionProvider). */
  counts: Record<string, number>;
  /** Nodes per provider; onnxruntime lists them only when more than one provider got nodes. */
  nodes: Record<string, PlacedNode[]>;
}

export type ObservedResult = ObservedPlacement | { error: string };

export interface ObserveOptions {
  executionProvider?: PlacementProvider;
  /** The session's optimization level; placement is decided after optimization (fusions included). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Environment of the child process (e.g. VK_DRIVER_FILES for a Vulkan driver). Default: this process's. */
  env?: NodeJS.ProcessEnv;
}

const CHILD = `
const fs = require('node:fs');
const ort = require(process.argv[1]);
const { models, provider, level } = JSON.parse(process.argv[2]);
(async () => {
  for (let i = 0; i < models.length; i++) {
    fs.writeSync(2, '\\n@@model ' + i + '\\n');
    try {
      const s = await ort.InferenceSession.create(models[i], {
        executionProviders: [provider], logSeverityLevel: 0, graphOptimizationLevel: level,
      });
      await s.release();
      fs.writeSync(2, '\\n@@ok ' + i + '\\n');
    } catch (e) {
      fs.writeSync(2, '\\n@@error ' + i + ' ' + JSON.stringify(String(e && e.message || e)) + '\\n');
    }
  }
})();
`;

const ANSI = new RegExp(String.fromCharCode(27) + '\\[[0-9;]*m', 'g');
const HEADER = /(?:Node\(s\)|All nodes) placed on \[(\w+)\]\. Number of nodes: (\d+)/;
const NODE_LINE = /VerifyEachNodeIsAssignedToAnEp\]\s{3,}(\S+) \((.*)\)\s*$/;

/** Split the child's stderr into one placement (or error) per model. */
export function parsePlacementLog(log: string, count: number): ObservedResult[] {
  const results: ObservedResult[] = Array.from({ length: count }, () => ({ error: 'no log for this model' }));
  let current: ObservedPlacement | null = null;
  let index = -1;
  let provider = '';
  for (const raw of log.split('\n')) {
    const line = raw.replace(ANSI, '');
    const marker = /^@@(model|ok|error) (\d+)(?: (.*))?$/.exec(line);
    if (marker) {
      index = Number(marker[2]);
      if (marker[1] === 'model') current = { counts: {}, nodes: {} };
      else if (marker[1] === 'ok' && current) results[index] = current;
      else results[index] = { error: JSON.parse(marker[3] ?? '""') };
      continue;
    }
    if (!current) continue;
    const header = HEADER.exec(line);
    if (header) {
      provider = header[1];
      current.counts[provider] = Number(header[2]);
      current.nodes[provider] = [];
      continue;
    }
    const node = NODE_LINE.exec(line);
    if (node && provider) current.nodes[provider].push({ opType: node[1], name: node[2] });
  }
  return results;
}

const ORT_PROVIDER: Record<PlacementProvider, string> = { webgpu: 'WebGpuExecutionProvider' };

/** Create a session for each model file (in one child process) and report where onnxruntime placed the nodes. */
export async function observePlacements(
  modelPaths: readonly string[],
  opts: ObserveOptions = {},
): Promise<ObservedResult[]> {
  const args = JSON.stringify({
    models: modelPaths,
    provider: opts.executionProvider ?? 'webgpu',
    level: opts.graphOptimizationLevel ?? 'all',
  });
  const child = spawn(process.execPath, ['-e', CHILD, require.resolve('onnxruntime-node'), args], {
    env: opts.env ?? process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stderr.on('data', (c: Buffer) => chunks.push(c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const results = parsePlacementLog(Buffer.concat(chunks).toString('utf8'), modelPaths.length);
  if (code !== 0) {
    throw new Error(
      `placement child exited with ${code}: ${JSON.stringify(results.find((r) => 'error' in r))}`,
    );
  }
  return results;
}

export interface RuntimeFallbacks {
  /** Nodes onnxruntime left to the CPU. */
  fallbacks: PlacedNode[];
  /** Host<->device copies it inserted (MemcpyFromHost / MemcpyToHost nodes). */
  copies: PlacedNode[];
  deviceNodes: number;
}

/**
 * Where onnxruntime places the nodes of `source` (a Graph, written to a temporary model file, or a model path)
 * on `provider`. Throws UnavailableError when no GPU adapter is found.
 */
export async function runtimeFallbacks(
  source: Graph | string,
  opts: ObserveOptions = {},
): Promise<RuntimeFallbacks> {
  const provider = opts.executionProvider ?? 'webgpu';
  let dir: string | undefined;
  let modelPath = source as string;
  if (source instanceof Graph) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-placement-'));
    modelPath = path.join(dir, 'model.onnx');
    writeModel(source, modelPath);
  }
  try {
    const [result] = await observePlacements([modelPath], opts);
    if ('error' in result) {
      if (/adapter/i.test(result.error)) {
        throw new UnavailableError(
          `execution provider '${provider}' found no GPU adapter: ${result.error.trim()}`,
        );
      }
      throw new Error(`placement: session creation failed: ${result.error}`);
    }
    const device = ORT_PROVIDER[provider];
    const isCopy = (n: PlacedNode) => n.opType === 'MemcpyFromHost' || n.opType === 'MemcpyToHost';
    const fallbacks = Object.entries(result.nodes)
      .filter(([p]) => p !== device)
      .flatMap(([, nodes]) => nodes);
    return {
      fallbacks,
      copies: (result.nodes[device] ?? []).filter(isCopy),
      deviceNodes: result.counts[device] ?? 0,
    };
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
