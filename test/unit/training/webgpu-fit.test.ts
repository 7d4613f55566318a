/**
 * The 7B workload on WebGPU, from shapes alone (models/shape-only.ts: Baichuan2-7B's shape in bfloat16, no weights
 * written): the LoRA r8 step at 4,096 tokens, batch 1, as the trainer builds it on webgpu, under each of the memory
 * plan's layouts fitted to the storage-binding limit (models/webgpu-fit.ts), and generation's prefill and decode,
 * have no tensor over the limit; the unfitted plain graphs do (attention's float32 scores, 2^31 bytes). So do the
 * forward-only graphs: a reward model's scores (a LLaMA of that shape: Baichuan has no sequence-classification
 * architecture), `whetstone loss`'s token losses, and the log-probabilities of DPO's reference and RL. RL's steps
 * and log-probabilities, at the width its scored rows are padded to, fit under the layout planJobMemory gives.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WEBGPU_MAX_BINDING_BYTES, oversizedTensors } from '../../../src/engine/binding-size';
import { Graph } from '../../../src/engine/graph';
import { providerGraph } from '../../../src/engine/layout';
import { assertGpuPlaceable, fallbackNodes } from '../../../src/engine/placement';
import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import { buildTokenLossGraph } from '../../../src/models/forward';
import { buildCachedRun } from '../../../src/models/generate';
import { MemoryLayout } from '../../../src/models/memory-layout';
import { LoadedModel } from '../../../src/models/model';
import { shapeOnlyModel } from '../../../src/models/shape-only';
import { webgpuMemoryLayout } from '../../../src/models/webgpu-fit';
import { referenceForward } from '../../../src/training/alignment/dpo';
import { buildLogProbsGraph, scoredBatch } from '../../../src/training/alignment/log-probs';
import { buildRewardGraph } from '../../../src/training/alignment/reward-scorer';
import { RlObjective } from '../../../src/training/alignment/rl/rl-objective';
import { SAMPLING_ITERATIONS } from '../../../src/training/alignment/rl/sampling-driver';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { LAYOUTS } from '../../../src/training/memory-plan';
import { TRAINING_METHODS } from '../../../src/training/methods';
import { planJobMemory } from '../../../src/training/prepare';
import { SftObjective } from '../../../src/training/sft';
import { buildFusedStepGraph } from '../../../src/training/step-graphs';
import { WEBGPU_LAYOUT } from '../../../src/training/trainer';
import { Rng } from '../../../src/util/rng';
import { BAICHUAN2_7B, benchParameters, shapeOnlyRewardModel } from '../../../bench/bench-model';

const T = 4096;
const RUN = { batch: 1, tokens: T };
let dir: string;
let model: LoadedModel;
let objective: SftObjective;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-webgpu-fit-'));
  model = shapeOnlyModel(dir, BAICHUAN2_7B);
  const params = benchParameters(model, 'lora', Rng.fromSeed(0), ['W_pack']);
  objective = new SftObjective(params.forward, params.initial);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function loraStep(memoryLayout: MemoryLayout, sft = objective, halfWeights?: Graph['halfWeights']): Graph {
  const tensor = { data: new Int32Array(T), shape: [1, T], dtype: 'int32' as const };
  const batch = {
    tensors: { input_ids: tensor, attention_mask: tensor, labels: tensor },
    tokens: T,
    examples: 1,
  };
  const opts = { adamW: ADAMW_DEFAULTS, maxGradNorm: 1, weightDecayAll: false, ...WEBGPU_LAYOUT };
  return buildFusedStepGraph(sft, batch, { ...opts, memoryLayout, ...(halfWeights ? { halfWeights } : {}) })
    .graph;
}

/** Shapes of the oversized tensors, each once. */
const shapes = (g: Graph, limit?: number) => [
  ...new Set(oversizedTensors(g, limit).map((t) => `${t.dtype}[${t.shape.join(', ')}]`)),
];

test('the plain LoRA step has float32 scores of 2^31 bytes; fitted (blocks of 2,048 rows) it has no tensor over the limit', () => {
  expect(shapes(loraStep({}))).toEqual(['float32[1, 32, 4096, 4096]']);
  const fitted = webgpuMemoryLayout({}, model.config, RUN);
  expect(fitted).toEqual({ attentionBlock: 2048 });
  expect(shapes(loraStep(fitted))).toEqual([]);
});

test.each(LAYOUTS.slice(1).map((l) => [JSON.stringify(l), l] as const))(
  "the LoRA step under the plan's layout %s, fitted, has no tensor over the limit",
  (_, layout) => {
    expect(shapes(loraStep(webgpuMemoryLayout(layout, model.config, RUN)))).toEqual([]);
  },
);

test('at a 1 GiB limit the head is used in 2 vocabulary slices of 62,848 rows and nothing exceeds it', () => {
  const limit = 2 ** 30;
  const layout = LAYOUTS[3];
  expect(shapes(loraStep(layout), limit)).toEqual(['float32[125696, 4096]', 'float32[4096, 125696]']);
  const fitted = webgpuMemoryLayout(layout, model.config, RUN, limit);
  expect(fitted).toEqual({ ...layout, headSlice: 62848 });
  expect(shapes(loraStep(fitted), limit)).toEqual([]);
});

test("generation's 4,096-token prefill fits in blocks of 2,048 query rows; decode fits as it is", () => {
  const total = T + 16;
  const graph = (prefill: boolean, memoryLayout?: MemoryLayout) => {
    const g = providerGraph('webgpu');
    const shape = { batch: 1, promptWidth: T, total, virtual: 0, dtype: 'int32' as const };
    buildCachedRun(g, model, { ...shape, prefill, cacheOutputs: 'present', memoryLayout });
    return g;
  };
  expect(shapes(graph(true))).toEqual([`float32[1, 32, 4096, ${total}]`]);
  const fitted = webgpuMemoryLayout({}, model.config, { ...RUN, keys: total });
  expect(fitted).toEqual({ attentionBlock: 2048 });
  expect(shapes(graph(true, fitted))).toEqual([]);
  expect(shapes(graph(false))).toEqual([]);
});

test('bfloat16 weights enter as float16: the fitted 7B LoRA steps have no CPU-placed node, 16-bit weights only', () => {
  for (const layout of [LAYOUTS[0], LAYOUTS[LAYOUTS.length - 1]]) {
    const step = loraStep(webgpuMemoryLayout(layout, model.config, RUN));
    assertGpuPlaceable(step);
    const frozen = step.tensors.filter((t) => t.kind === 'initializer' && t.mapped);
    expect(new Set(frozen.map((t) => `${t.dtype} from ${t.mappedDtype}`))).toEqual(
      new Set(['float16 from bfloat16']),
    );
  }
  // As stored, bfloat16 has no WebGPU kernel: the embedding's Gather and Cast fall back.
  const stored = loraStep(webgpuMemoryLayout({}, model.config, RUN), objective, 'stored');
  expect(fallbackNodes(stored).map((f) => f.signature)).toEqual(['bfloat16,int32', 'bfloat16->float32']);
});

test('a sequence whose one query row of scores exceeds the limit is refused', () => {
  const tokens = Math.ceil(WEBGPU_MAX_BINDING_BYTES / (32 * 4)) + 1;
  expect(() => webgpuMemoryLayout({}, model.config, { batch: 1, tokens })).toThrow(
    expect.objectContaining({ code: 'MEMORY_BUDGET_EXCEEDED' }),
  );
});

/** Attention's float32 scores in every layer (MatMul, Add, Softmax, two Reshapes) at (rows, 32, queries, keys). */
const scores = (rows: number, queries: number) => [`float32[${rows}, 32, ${queries}, ${T}]`];

test("the reward model's scores fit in blocks of 2,048 query rows; plain, every layer's scores exceed the limit", () => {
  const rewardDir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-webgpu-fit-reward-'));
  try {
    const rm = shapeOnlyRewardModel(shapeOnlyModel(rewardDir, { ...BAICHUAN2_7B, family: 'llama' }));
    const plain = buildRewardGraph(rm, [1, T], 'webgpu', {});
    expect(shapes(plain)).toEqual(scores(1, T));
    expect(oversizedTensors(plain)).toHaveLength(5 * 32);
    expect(shapes(buildRewardGraph(rm, [1, T], 'webgpu'))).toEqual([]);
  } finally {
    fs.rmSync(rewardDir, { recursive: true, force: true });
  }
});

test("`whetstone loss`'s graph fits on webgpu (one or two 4,096-token texts); plain it does not", () => {
  const graph = (rows: number, memoryLayout?: MemoryLayout) =>
    buildTokenLossGraph(model, [rows, T], { executionProvider: 'webgpu', memoryLayout }).g;
  expect(shapes(graph(1, {}))).toEqual(scores(1, T));
  expect(shapes(graph(1))).toEqual([]);
  // Two texts: (2 x 4,096, V) float32 logits would be 3.8 GiB; the fitted loss is chunked.
  expect(shapes(graph(2, {}))).toEqual([
    ...scores(2, T),
    `float32[2, ${T}, 125696]`,
    `float32[${2 * T}, 125696]`,
  ]);
  expect(shapes(graph(2))).toEqual([]);
});

test("log-probabilities fit under the run's fitted layout; DPO's reference rows are padded as the steps' are", () => {
  const graph = (rows: number, tokens: number, memoryLayout: MemoryLayout) =>
    buildLogProbsGraph(referenceForward(model), [rows, tokens], {
      executionProvider: 'webgpu',
      memoryLayout,
    }).graph;
  expect(shapes(graph(1, T, {}))).toEqual(scores(1, T));
  expect(shapes(graph(1, T, webgpuMemoryLayout({}, model.config, RUN)))).toEqual([]);
  // A DPO pair (2 rows) at maxSequenceLength 4,090: the steps' layout is fitted to 4,090 tokens; padded to a
  // multiple of 16 up to the model's 4,096 positions, as the reference's rows were, its scores would exceed it.
  const length = 4090;
  const fitted = webgpuMemoryLayout({}, model.config, { batch: 2, tokens: length });
  expect(fitted).toEqual({ attentionBlock: 2048, lossChunk: 4096 });
  expect(shapes(graph(2, T, fitted))).toEqual([`float32[2, 32, 2048, ${T}]`]);
  const row = { ids: Array<number>(length).fill(3), from: 1 };
  const padded = scoredBatch([row, row], { bucket: 16, maxLength: length }).shape;
  expect(padded).toEqual([2, length]);
  expect(shapes(graph(...padded, fitted))).toEqual([]);
});

test("RL's steps and log-probabilities run at the padded scored width, and planJobMemory fits the layout to it", () => {
  // maxSequenceLength 4,088, one prompt of two completions: a prompt of 4,088 - 64 + 1 tokens and a 64-token
  // completion make a 4,089-token row, padded to 4,096 (the model's positions), two rows to a step.
  const length = 4088;
  const hyperparameters = parseHyperparameters(
    { maxSequenceLength: length, batchSize: 1, numGenerations: 2, maxNewTokens: 64, loraTargets: ['W_pack'] },
    ['hyperparameters'],
    { runner: 'job', method: 'RL', parameterScale: 'LORA' },
  );
  const saved = { host: process.env.WHETSTONE_MEMORY_BUDGET, device: process.env.WHETSTONE_GPU_MEMORY };
  process.env.WHETSTONE_MEMORY_BUDGET = process.env.WHETSTONE_GPU_MEMORY = '1TiB';
  let planned: MemoryLayout;
  try {
    const req = { method: TRAINING_METHODS.RL, parameterScale: 'lora', hyperparameters } as const;
    planned = planJobMemory(model, { ...req, executionProvider: 'webgpu' }).layout;
    expect(planJobMemory(model, { ...req, executionProvider: 'cpu' }).layout).toEqual({});
  } finally {
    for (const [key, value] of [
      ['WHETSTONE_MEMORY_BUDGET', saved.host],
      ['WHETSTONE_GPU_MEMORY', saved.device],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  const prompt = SAMPLING_ITERATIONS.exampleLength!(length, hyperparameters);
  const row = { ids: Array<number>(prompt + hyperparameters.maxNewTokens).fill(3), from: prompt };
  const [n, t] = scoredBatch([row, row], { maxLength: model.config.maxPositionEmbeddings }).shape;
  expect([n, t]).toEqual([2, T]);
  const params = benchParameters(model, 'lora', Rng.fromSeed(0), ['W_pack']);
  const rl = new RlObjective(params.forward, params.initial, { clipEpsilon: 0.2, klCoef: 0.04 });
  const ids = { data: new Int32Array(n * t), shape: [n, t], dtype: 'int32' as const };
  const logps = { data: new Float32Array(n * t), shape: [n, t], dtype: 'float32' as const };
  const advantages = { data: new Float32Array(n), shape: [n], dtype: 'float32' as const };
  const batch = {
    tensors: {
      input_ids: ids,
      attention_mask: ids,
      labels: ids,
      old_logps: logps,
      ref_logps: logps,
      advantages,
    },
    tokens: n * t,
    examples: n,
  };
  const opts = { adamW: ADAMW_DEFAULTS, maxGradNorm: 1, weightDecayAll: false, ...WEBGPU_LAYOUT };
  const step = (memoryLayout: MemoryLayout) =>
    buildFusedStepGraph(rl, batch, { ...opts, memoryLayout }).graph;
  const logProbs = (memoryLayout: MemoryLayout) =>
    buildLogProbsGraph(params.forward, [n, t], { executionProvider: 'webgpu', memoryLayout }).graph;
  // Fitted to maxSequenceLength (as planJobMemory did), blocks of 2,048 query rows over 4,096 keys exceed it.
  const toLength = webgpuMemoryLayout({}, model.config, { batch: n, tokens: length });
  expect(toLength).toEqual({ attentionBlock: 2048, lossChunk: 4096 });
  expect(oversizedTensors(step(toLength))).toHaveLength(544);
  expect(shapes(step(toLength))).toEqual([`float32[2, 32, 2048, ${T}]`, `float32[2, 32, ${T}, 2048]`]);
  expect(oversizedTensors(logProbs(toLength))).toHaveLength(5 * 32);
  // Fitted to the padded row: blocks of 1,024.
  expect(planned).toEqual({ attentionBlock: 1024, lossChunk: 4096 });
  expect(shapes(step(planned))).toEqual([]);
  expect(shapes(logProbs(planned))).toEqual([]);
});
