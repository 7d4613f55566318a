/**
 * `npm run bench:webgpu-fit` (or `npx tsx bench/webgpu-fit.ts`): which tensors of the 7B workload's graphs exceed
 * WebGPU's storage-binding limit (engine/binding-size.ts), from shapes alone: Baichuan2-7B's shape in bfloat16 as a
 * shape-only model (models/shape-only.ts: no weights written or read), the LoRA r8 SFT step on W_pack at 4,096
 * tokens, batch 1, as the trainer builds it on webgpu (int32 batch, WEBGPU_LAYOUT) under each of the memory plan's
 * layouts, as given and as fitted to the limit (models/webgpu-fit.ts); then generation's prefill (a 4,096-token
 * prompt) and decode graphs; then the forward-only graphs at 4,096 tokens, each plain (as built before they were
 * fitted) and fitted: a reward model's scoring (a LLaMA of that shape: Baichuan has no sequence-classification
 * architecture), `whetstone loss` (one and two texts), and the log-probabilities of DPO's reference and RL (one
 * row; a DPO pair at maxSequenceLength 4,090, its rows padded to 4,096 as they were, then as the steps' are); then
 * RL's step and log-probabilities at the width its scored rows are padded to (`rlAtPaddedWidth`). One line per
 * graph, then one JSON object. Takes about 10 s and 0.65 GiB.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  OversizedTensor,
  WEBGPU_MAX_BINDING_BYTES,
  describeOversized,
  oversizedTensors,
} from '../src/engine/binding-size';
import { Graph } from '../src/engine/graph';
import { fallbackNodes } from '../src/engine/placement';
import { providerGraph } from '../src/engine/layout';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { buildTokenLossGraph } from '../src/models/forward';
import { buildCachedRun } from '../src/models/generate';
import { MemoryLayout } from '../src/models/memory-layout';
import type { LoadedModel } from '../src/models/model';
import { shapeOnlyModel } from '../src/models/shape-only';
import { referenceForward } from '../src/training/alignment/dpo';
import { buildLogProbsGraph, scoredBatch } from '../src/training/alignment/log-probs';
import { buildRewardGraph } from '../src/training/alignment/reward-scorer';
import { RlObjective } from '../src/training/alignment/rl/rl-objective';
import { SAMPLING_ITERATIONS } from '../src/training/alignment/rl/sampling-driver';
import { parseHyperparameters } from '../src/training/hyperparameters';
import { LAYOUTS } from '../src/training/memory-plan';
import { TRAINING_METHODS } from '../src/training/methods';
import type { Parameterization } from '../src/training/parameterization';
import { planJobMemory } from '../src/training/prepare';
import { SftObjective } from '../src/training/sft';
import { buildFusedStepGraph } from '../src/training/step-graphs';
import { WEBGPU_LAYOUT } from '../src/training/trainer';
import { webgpuMemoryLayout } from '../src/models/webgpu-fit';
import { Rng } from '../src/util/rng';
import { BAICHUAN2_7B, benchParameters, shapeOnlyRewardModel } from './bench-model';

const T = 4096;

/** A (b, t) batch of int32 zeros, as the trainer feeds webgpu (the values do not matter here). */
function zeroBatch(b: number, t: number) {
  const ids = new Int32Array(b * t);
  const shape = [b, t];
  const tensor = { data: ids, shape, dtype: 'int32' as const };
  return {
    tensors: { input_ids: tensor, attention_mask: tensor, labels: tensor },
    tokens: b * t,
    examples: b,
  };
}

/** Tensors over the limit, the largest ones (over a quarter of it), and the nodes WebGPU would leave to the CPU. */
function report(name: string, g: Graph, out: Record<string, unknown>): void {
  const over: OversizedTensor[] = oversizedTensors(g);
  const lines = describeOversized(over);
  const largest = describeOversized(oversizedTensors(g, WEBGPU_MAX_BINDING_BYTES / 4).slice(over.length));
  const cpu = new Map<string, number>();
  for (const f of fallbackNodes(g)) {
    const key = `${f.opType}(${f.signature})${f.afterDevice ? ' after the device' : ''}`;
    cpu.set(key, (cpu.get(key) ?? 0) + 1);
  }
  const cpuNodes = [...cpu].map(([key, n]) => `${n} x ${key}`);
  console.log(
    `${name}: ${g.nodes.length} nodes, ${over.length} tensors over the limit${lines.length ? ':' : ''}`,
  );
  for (const l of lines) console.log(`  ${l}`);
  console.log(`  largest under it: ${largest.slice(0, 4).join('; ') || 'none over a quarter of the limit'}`);
  console.log(`  CPU-placed: ${cpuNodes.join('; ') || 'none'}`);
  out[name] = { nodes: g.nodes.length, oversized: lines, largest, cpuNodes };
}

/**
 * RL at maxSequenceLength 4,088, one prompt of two 64-token completions: its rows (prompt + completion) are padded
 * as scored to 4,096; its step and log-probabilities under the layout fitted to 4,088 tokens (what planJobMemory
 * gave before it fitted the driver's row length), then under planJobMemory's. The budget is stated (1 TiB) so the
 * plan keeps the plain layout and only the fit is shown.
 */
function rlAtPaddedWidth(model: LoadedModel, params: Parameterization, out: Record<string, unknown>): void {
  const length = 4088;
  const hyperparameters = parseHyperparameters(
    { maxSequenceLength: length, batchSize: 1, numGenerations: 2, maxNewTokens: 64, loraTargets: ['W_pack'] },
    ['hyperparameters'],
    { runner: 'job', method: 'RL', parameterScale: 'LORA' },
  );
  process.env.WHETSTONE_MEMORY_BUDGET = process.env.WHETSTONE_GPU_MEMORY = '1TiB';
  const planned = planJobMemory(model, {
    method: TRAINING_METHODS.RL,
    parameterScale: 'lora',
    hyperparameters,
    executionProvider: 'webgpu',
  }).layout;
  const prompt = SAMPLING_ITERATIONS.exampleLength!(length, hyperparameters);
  const row = { ids: Array<number>(prompt + hyperparameters.maxNewTokens).fill(3), from: prompt };
  const [n, t] = scoredBatch([row, row], { maxLength: model.config.maxPositionEmbeddings }).shape;
  const rl = new RlObjective(params.forward, params.initial, { clipEpsilon: 0.2, klCoef: 0.04 });
  const batch = zeroBatch(n, t);
  const logps = { data: new Float32Array(n * t), shape: [n, t], dtype: 'float32' as const };
  const advantages = { data: new Float32Array(n), shape: [n], dtype: 'float32' as const };
  const tensors = { ...batch.tensors, old_logps: logps, ref_logps: logps, advantages };
  const toLength = webgpuMemoryLayout({}, model.config, { batch: n, tokens: length });
  for (const [what, memoryLayout] of [
    [`fitted to ${length}`, toLength],
    ['planJobMemory', planned],
  ] as const) {
    const step = buildFusedStepGraph(
      rl,
      { ...batch, tensors },
      { adamW: ADAMW_DEFAULTS, maxGradNorm: 1, weightDecayAll: false, ...WEBGPU_LAYOUT, memoryLayout },
    );
    const layout = JSON.stringify(memoryLayout);
    report(`RL step ${n} x ${t} at maxSequenceLength ${length} (${what}: ${layout})`, step.graph, out);
    const { graph } = buildLogProbsGraph(params.forward, [n, t], {
      executionProvider: 'webgpu',
      memoryLayout,
    });
    report(`RL log-probs ${n} x ${t} at maxSequenceLength ${length} (${what}: ${layout})`, graph, out);
  }
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-webgpu-fit-'));
  const rewardDir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-webgpu-fit-reward-'));
  const out: Record<string, unknown> = { limitBytes: WEBGPU_MAX_BINDING_BYTES };
  try {
    const model = shapeOnlyModel(dir, BAICHUAN2_7B);
    const params = benchParameters(model, 'lora', Rng.fromSeed(0), ['W_pack']);
    const objective = new SftObjective(params.forward, params.initial);
    const rows = { batch: 1, tokens: T };
    for (const given of LAYOUTS) {
      for (const fitted of [false, true]) {
        const layout: MemoryLayout = fitted ? webgpuMemoryLayout(given, model.config, rows) : given;
        const step = buildFusedStepGraph(objective, zeroBatch(1, T), {
          adamW: ADAMW_DEFAULTS,
          maxGradNorm: 1,
          weightDecayAll: false,
          ...WEBGPU_LAYOUT,
          memoryLayout: layout,
        });
        report(
          `LoRA step, ${JSON.stringify(given)}${fitted ? ` fitted: ${JSON.stringify(layout)}` : ''}`,
          step.graph,
          out,
        );
      }
    }
    const total = T + 16;
    const fittedPrefill = webgpuMemoryLayout({}, model.config, { batch: 1, tokens: T, keys: total });
    for (const [prefill, memoryLayout] of [
      [true, undefined],
      [true, fittedPrefill],
      [false, undefined],
    ] as const) {
      const g = providerGraph('webgpu');
      buildCachedRun(g, model, {
        batch: 1,
        promptWidth: T,
        total,
        virtual: 0,
        prefill,
        dtype: 'int32',
        cacheOutputs: 'present',
        memoryLayout,
      });
      const what = prefill ? `prefill (${T}-token prompt)` : 'decode';
      report(`generation ${what}${memoryLayout ? ` fitted: ${JSON.stringify(memoryLayout)}` : ''}`, g, out);
    }
    const rewardModel = shapeOnlyRewardModel(shapeOnlyModel(rewardDir, { ...BAICHUAN2_7B, family: 'llama' }));
    report('reward scoring 1 x 4096, plain', buildRewardGraph(rewardModel, [1, T], 'webgpu', {}), out);
    report('reward scoring 1 x 4096, fitted', buildRewardGraph(rewardModel, [1, T], 'webgpu'), out);
    for (const rows of [1, 2]) {
      for (const memoryLayout of [{}, undefined]) {
        const { g } = buildTokenLossGraph(model, [rows, T], { executionProvider: 'webgpu', memoryLayout });
        report(`whetstone loss ${rows} x ${T}, ${memoryLayout ? 'plain' : 'fitted'}`, g, out);
      }
    }
    // The log-probabilities take the run's layout (fitted by planJobMemory to its step rows and length).
    const dpoLength = 4090;
    for (const [what, shape, fitTo] of [
      ['1 row, plain', [1, T], null],
      ['1 row, fitted', [1, T], { batch: 1, tokens: T }],
      ['DPO pair at 4090, padded to 4096', [2, T], { batch: 2, tokens: dpoLength }],
      ['DPO pair at 4090, padded as the steps', [2, dpoLength], { batch: 2, tokens: dpoLength }],
    ] as const) {
      const memoryLayout = fitTo ? webgpuMemoryLayout({}, model.config, fitTo) : {};
      const { graph } = buildLogProbsGraph(referenceForward(model), shape, {
        executionProvider: 'webgpu',
        memoryLayout,
      });
      report(`log-probs ${shape.join(' x ')} (${what}: ${JSON.stringify(memoryLayout)})`, graph, out);
    }
    rlAtPaddedWidth(model, params, out);
    console.log(JSON.stringify(out));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(rewardDir, { recursive: true, force: true });
  }
}

main();
