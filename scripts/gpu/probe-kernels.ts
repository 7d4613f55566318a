/**
 * Measure which (op, input dtypes) onnxruntime-node's WebGPU provider places on the device, by asking the shipped
 * binary: every op the engine emits (plus the ops docs/gpu.md reported falling back) is built as a one-node model
 * per dtype combination, and the session's verbose log says where the node went. That is the kernel registry's
 * own lookup (op, opset, type constraints), so the table cannot drift from the binary it was measured on.
 *
 *   npx tsx scripts/gpu/probe-kernels.ts                 # compare with src/engine/webgpu-kernels.ts
 *   npx tsx scripts/gpu/probe-kernels.ts --write "<adapter>"   # regenerate the table
 *
 * Needs a WebGPU adapter: a GPU, or Mesa's lavapipe on the CPU (source scripts/gpu/lavapipe.sh first).
 * Combinations the ONNX schema rejects (session creation fails) are left out of the table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DType, Graph, OutputSpec, Tensor } from '../../src/engine/graph';
import { writeModel, OPSET } from '../../src/engine/onnx';
import { ONNX_DTYPE } from '../../src/engine/ops';
import { ObservedResult, observePlacements } from '../../src/engine/placement';
import { KernelEntry, KernelTable, WEBGPU_KERNELS } from '../../src/engine/webgpu-kernels';

const ALL: DType[] = ['float32', 'float16', 'int32', 'int64', 'bool'];
const FLOATS: DType[] = ['float32', 'float16'];
const INDICES: DType[] = ['int32', 'int64'];

interface Built {
  inputs: Tensor[];
  out: OutputSpec[];
  attrs?: Record<string, number | number[]>;
}

/** One op: which inputs key the lookup, and how to build it for element type t, index type i, target type u. */
interface ProbeCase {
  op: string;
  key: number[];
  /** Cast: the target dtype is part of the signature. */
  output?: boolean;
  ts?: DType[];
  is?: DType[];
  us?: DType[];
  build(g: Graph, t: DType, i: DType, u: DType): Built;
}

const x = (g: Graph, t: DType, shape: number[] = [2, 3], name = 'x') => g.input(name, shape, t);
const c = (g: Graph, values: number[], dtype: DType = 'int64') => g.constant(values, dtype);
const same = (g: Graph, t: DType, shape: number[] = [2, 3]): Built => ({
  inputs: [x(g, t, shape)],
  out: [{ shape, dtype: t }],
});

const unary = (op: string, attrs?: Record<string, number>): ProbeCase => ({
  op,
  key: [0],
  build: (g, t) => ({ ...same(g, t), attrs }),
});
const binary = (op: string, outBool = false): ProbeCase => ({
  op,
  key: [0, 1],
  build: (g, t) => ({
    inputs: [x(g, t), x(g, t, [2, 3], 'y')],
    out: [{ shape: [2, 3], dtype: outBool ? 'bool' : t }],
  }),
});
const reduce = (op: string): ProbeCase => ({
  op,
  key: [0],
  build: (g, t) => ({
    inputs: [x(g, t), c(g, [1])],
    out: [{ shape: [2, 1], dtype: t }],
    attrs: { keepdims: 1 },
  }),
});

export const PROBES: ProbeCase[] = [
  ...[
    'Neg',
    'Abs',
    'Sign',
    'Exp',
    'Log',
    'Sqrt',
    'Reciprocal',
    'Tanh',
    'Sigmoid',
    'Erf',
    'Relu',
    'Identity',
    'Not',
  ].map((op) => unary(op)),
  unary('Softmax', { axis: 1 }),
  unary('LogSoftmax', { axis: 1 }),
  ...['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Min', 'Max'].map((op) => binary(op)),
  ...['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or'].map((op) => binary(op, true)),
  {
    op: 'Where',
    key: [0, 1, 2],
    build: (g, t) => ({
      inputs: [x(g, 'bool', [2, 3], 'cond'), x(g, t), x(g, t, [2, 3], 'y')],
      out: [{ shape: [2, 3], dtype: t }],
    }),
  },
  {
    op: 'Clip',
    key: [0],
    build: (g, t) => ({
      inputs: [x(g, t), g.constant(0, t), g.constant(1, t)],
      out: [{ shape: [2, 3], dtype: t }],
    }),
  },
  {
    op: 'Cast',
    key: [0],
    output: true,
    us: ALL,
    build: (g, t, _i, u) => ({
      inputs: [x(g, t)],
      out: [{ shape: [2, 3], dtype: u }],
      attrs: { to: ONNX_DTYPE[u] },
    }),
  },
  {
    op: 'MatMul',
    key: [0, 1],
    build: (g, t) => ({ inputs: [x(g, t), x(g, t, [3, 4], 'y')], out: [{ shape: [2, 4], dtype: t }] }),
  },
  {
    op: 'Gemm',
    key: [0, 1] /* C, optional, is T too */,
    build: (g, t) => ({
      inputs: [x(g, t), x(g, t, [4, 3], 'y'), x(g, t, [4], 'bias')],
      out: [{ shape: [2, 4], dtype: t }],
      attrs: { transB: 1 },
    }),
  },
  ...['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceSumSquare'].map(reduce),
  {
    op: 'Reshape',
    key: [0],
    build: (g, t) => ({ inputs: [x(g, t), c(g, [3, 2])], out: [{ shape: [3, 2], dtype: t }] }),
  },
  {
    op: 'Transpose',
    key: [0],
    build: (g, t) => ({ inputs: [x(g, t)], out: [{ shape: [3, 2], dtype: t }], attrs: { perm: [1, 0] } }),
  },
  {
    op: 'Unsqueeze',
    key: [0],
    build: (g, t) => ({ inputs: [x(g, t), c(g, [0])], out: [{ shape: [1, 2, 3], dtype: t }] }),
  },
  {
    op: 'Squeeze',
    key: [0],
    build: (g, t) => ({ inputs: [x(g, t, [2, 1, 3]), c(g, [1])], out: [{ shape: [2, 3], dtype: t }] }),
  },
  {
    op: 'Expand',
    key: [0],
    build: (g, t) => ({ inputs: [x(g, t, [2, 1]), c(g, [2, 3])], out: [{ shape: [2, 3], dtype: t }] }),
  },
  {
    op: 'Concat',
    key: [0, 1],
    build: (g, t) => ({
      inputs: [x(g, t), x(g, t, [2, 3], 'y')],
      out: [{ shape: [4, 3], dtype: t }],
      attrs: { axis: 0 },
    }),
  },
  {
    op: 'Split',
    key: [0],
    build: (g, t) => ({
      inputs: [x(g, t, [2, 4]), c(g, [2, 2])],
      out: [
        { shape: [2, 2], dtype: t },
        { shape: [2, 2], dtype: t },
      ],
      attrs: { axis: 1 },
    }),
  },
  {
    op: 'Slice',
    key: [0],
    build: (g, t) => ({
      inputs: [x(g, t), c(g, [0]), c(g, [2]), c(g, [1])],
      out: [{ shape: [2, 2], dtype: t }],
    }),
  },
  {
    op: 'Pad',
    key: [0],
    build: (g, t) => ({
      inputs: [x(g, t), c(g, [0, 1, 0, 1]), g.constant(0, t)],
      out: [{ shape: [2, 5], dtype: t }],
    }),
  },
  {
    op: 'Trilu',
    key: [0],
    build: (g, t) => ({
      inputs: [x(g, t, [3, 3]), g.constant(0, 'int64')],
      out: [{ shape: [3, 3], dtype: t }],
    }),
  },
  {
    op: 'Gather',
    key: [0, 1],
    is: INDICES,
    build: (g, t, i) => ({
      inputs: [x(g, t, [4, 3]), x(g, i, [2], 'idx')],
      out: [{ shape: [2, 3], dtype: t }],
      attrs: { axis: 0 },
    }),
  },
  {
    op: 'GatherElements',
    key: [0, 1],
    is: INDICES,
    build: (g, t, i) => ({
      inputs: [x(g, t), x(g, i, [2, 2], 'idx')],
      out: [{ shape: [2, 2], dtype: t }],
      attrs: { axis: 1 },
    }),
  },
  {
    op: 'GatherND',
    key: [0, 1],
    build: (g, t) => ({
      inputs: [x(g, t), x(g, 'int64', [2, 1], 'idx')],
      out: [{ shape: [2, 3], dtype: t }],
    }),
  },
  {
    op: 'ScatterElements',
    key: [0, 1, 2],
    is: INDICES,
    build: (g, t, i) => ({
      inputs: [x(g, t), x(g, i, [2, 2], 'idx'), x(g, t, [2, 2], 'upd')],
      out: [{ shape: [2, 3], dtype: t }],
      attrs: { axis: 1 },
    }),
  },
  {
    op: 'ScatterND',
    key: [0, 1, 2],
    build: (g, t) => ({
      inputs: [x(g, t, [4, 3]), x(g, 'int64', [2, 1], 'idx'), x(g, t, [2, 3], 'upd')],
      out: [{ shape: [4, 3], dtype: t }],
    }),
  },
  // Reported as CPU fallbacks in /work/shared/docs/gpu.md: measured here to cross-check.
  {
    op: 'OneHot',
    key: [0, 2],
    ts: FLOATS,
    is: INDICES,
    build: (g, t, i) => ({
      inputs: [x(g, i, [2], 'idx'), g.constant(3, 'int64'), x(g, t, [2], 'values')],
      out: [{ shape: [2, 3], dtype: t }],
    }),
  },
  {
    op: 'SoftmaxCrossEntropyLoss',
    key: [0, 1],
    ts: FLOATS,
    is: INDICES,
    build: (g, t, i) => ({ inputs: [x(g, t), x(g, i, [2], 'labels')], out: [{ shape: [], dtype: t }] }),
  },
  {
    op: 'LayerNormalization',
    key: [0, 1, 2],
    build: (g, t) => ({
      inputs: [x(g, t), x(g, t, [3], 'scale'), x(g, t, [3], 'bias')],
      out: [{ shape: [2, 3], dtype: t }],
      attrs: { axis: -1 },
    }),
  },
];

interface Variant {
  op: string;
  signature: string;
  file: string;
}

/** One model file per (op, dtype combination); the op is node n0_<Op>. */
function writeVariants(dir: string): Variant[] {
  const variants: Variant[] = [];
  for (const p of PROBES) {
    const combos: [DType, DType, DType][] = [];
    for (const t of p.ts ?? ALL) combos.push([t, 'int64', 'float32']);
    for (const i of p.is ?? []) if (i !== 'int64') combos.push(['float32', i, 'float32']);
    const withTargets = p.us
      ? combos.flatMap(([t, i]) => p.us!.map((u) => [t, i, u] as [DType, DType, DType]))
      : combos;
    for (const [t, i, u] of withTargets) {
      const g = new Graph();
      const b = p.build(g, t, i, u);
      const outs = g.addNode(p.op, b.inputs, b.out, b.attrs ?? {});
      outs.forEach((o, k) => g.output(`y${k}`, o));
      const ins = p.key.map((k) => b.inputs[k].dtype).join(',');
      const signature = p.output ? `${ins}->${u}` : ins;
      const file = path.join(dir, `${p.op}.${variants.length}.onnx`);
      writeModel(g, file);
      variants.push({ op: p.op, signature, file });
    }
  }
  return variants;
}

type Where = 'device' | 'host' | string;

function placementOf(op: string, r: ObservedResult): Where {
  if ('error' in r) return `invalid: ${r.error.split('\n')[0].slice(0, 160)}`;
  const name = `n0_${op}`;
  const onDevice = (provider: string) => (provider === 'WebGpuExecutionProvider' ? 'device' : 'host');
  for (const [provider, nodes] of Object.entries(r.nodes)) {
    if (nodes.some((n) => n.name === name)) return onDevice(provider);
  }
  const providers = Object.keys(r.counts);
  if (providers.length === 1) return onDevice(providers[0]);
  // A function op (Relu, SoftmaxCrossEntropyLoss...) without a kernel is expanded into its body: it counts as on
  // the device only if every node of the body is.
  const body = Object.entries(r.nodes).flatMap(([provider, nodes]) =>
    nodes.filter((n) => !n.opType.startsWith('Memcpy') && !n.name.startsWith('out_')).map(() => provider),
  );
  return body.every((p) => onDevice(p) === 'device') ? 'device' : 'host';
}

/** Probe every case; returns the measured table and the combinations onnxruntime refused. */
export async function probeKernels(
  env?: NodeJS.ProcessEnv,
): Promise<{ table: KernelTable; invalid: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-probe-'));
  try {
    const variants = writeVariants(dir);
    const results = await observePlacements(
      variants.map((v) => v.file),
      { graphOptimizationLevel: 'disabled', env },
    );
    const ops: Record<string, KernelEntry> = {};
    const invalid: string[] = [];
    variants.forEach((v, k) => {
      const p = PROBES.find((q) => q.op === v.op)!;
      const entry = (ops[v.op] ??= {
        key: p.key,
        ...(p.output ? { output: true } : {}),
        device: [],
        host: [],
      });
      const where = placementOf(v.op, results[k]);
      if (where === 'device' || where === 'host') entry[where].push(v.signature);
      else invalid.push(`${v.op}(${v.signature}) ${where}`);
    });
    return { table: { opset: OPSET, ops }, invalid };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function renderTable(table: KernelTable, measuredOn: string): string {
  const version = JSON.parse(
    fs.readFileSync(
      path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'package.json'),
      'utf8',
    ),
  ).version;
  const rows = Object.entries(table.ops)
    .map(([op, e]) => `  ${op}: ${JSON.stringify(e)},`)
    .join('\n');
  return `/**
 * Which (op, input dtypes) onnxruntime-node's WebGPU execution provider places on the device at opset ${table.opset}.
 * GENERATED by scripts/gpu/probe-kernels.ts --write: do not edit by hand.
 *
 * Measured from onnxruntime-node ${version}'s own kernel lookup (one-node models, session log at verbose level) on
 * ${measuredOn}. The lookup matches op, domain, opset range and type constraints as registered in
 * onnxruntime/core/providers/webgpu/webgpu_execution_provider.cc (microsoft/onnxruntime); int64 data is not among
 * the WebGPU number types (float, float16, int32, uint32) unless the provider's enableInt64 option is set, which
 * onnxruntime-node does not expose.
 *
 * key: input indices whose dtypes form the signature; output: Cast's target dtype follows '->'.
 * device: signatures placed on the GPU; host: signatures left to the CPU provider.
 */
export interface KernelEntry {
  key: number[];
  output?: boolean;
  device: string[];
  host: string[];
}

export interface KernelTable {
  opset: number;
  ops: Record<string, KernelEntry>;
}

export const WEBGPU_KERNELS: KernelTable = {
  opset: ${table.opset},
  ops: {
${rows}
  },
};
`;
}

/** Signatures where two tables disagree (measured here vs committed). */
export function diffTables(measured: KernelTable, committed: KernelTable): string[] {
  const diffs: string[] = [];
  for (const [op, m] of Object.entries(measured.ops)) {
    const c = committed.ops[op];
    for (const where of ['device', 'host'] as const) {
      for (const s of m[where]) {
        if (!c?.[where].includes(s))
          diffs.push(`${op}(${s}): measured ${where}, table says ${c ? 'otherwise' : 'nothing'}`);
      }
    }
  }
  return diffs;
}

async function main(): Promise<void> {
  const [flag, measuredOn] = process.argv.slice(2);
  const { table, invalid } = await probeKernels();
  for (const [op, e] of Object.entries(table.ops)) {
    console.log(
      `${op.padEnd(24)} device: ${e.device.join(' | ') || '-'}   host: ${e.host.join(' | ') || '-'}`,
    );
  }
  console.log(`\n${invalid.length} combinations refused by onnxruntime (not valid ONNX):`);
  invalid.forEach((s) => console.log(`  ${s}`));
  if (flag === '--write') {
    if (!measuredOn) throw new Error('--write needs a description of the adapter it ran on');
    const file = path.resolve(__dirname, '../../src/engine/webgpu-kernels.ts');
    fs.writeFileSync(file, renderTable(table, measuredOn));
    console.log(`\nwrote ${file}`);
    return;
  }
  const diffs = diffTables(table, WEBGPU_KERNELS);
  console.log(
    diffs.length ? `\n${diffs.length} differences:\n${diffs.join('\n')}` : '\nthe committed table matches',
  );
  if (diffs.length) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
