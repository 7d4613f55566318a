/**
 * `npx tsx bench/step-graph-nodes.ts`: node counts by op type of the trainer's fused SFT step graph for the
 * GPU check's larger model (hidden 512, 8 layers, batch 16 x 256), full and LoRA, as the trainer builds it for the
 * CPU (per-parameter AdamW, Gemm linears) and for webgpu (grouped AdamW, pre-transposed weights). On the WebGPU
 * provider each node is at least one dispatch, recorded by the host, so fewer nodes per step is less host time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { opTypes } from '../src/engine/onnx';
import { fallbackNodes } from '../src/engine/placement';
import { writeDemoModel } from '../src/models/demo';
import { loadModel } from '../src/models/model';
import { parseHyperparameters } from '../src/training/hyperparameters';
import { parameterize } from '../src/training/parameterization';
import { Rng } from '../src/util/rng';
import { SftObjective } from '../src/training/sft';
import { buildFusedStepGraph } from '../src/training/step-graphs';
import { WEBGPU_LAYOUT } from '../src/training/trainer';
import { LARGE_MODEL } from './bench-model';

const MODEL = LARGE_MODEL;
const [B, T] = [16, 256];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-nodes-'));
  try {
    writeDemoModel(dir, { ...MODEL, seed: 0 });
    const model = await loadModel(dir);
    const result: Record<string, unknown> = {};
    for (const [scale, webgpu] of [
      ['full', false],
      ['full', true],
      ['lora', false],
      ['lora', true],
    ] as const) {
      const params = parameterize(model, {
        scale,
        hyperparameters: parseHyperparameters({
          loraRank: 8,
          loraAlpha: 16,
          loraTargets: ['q_proj', 'v_proj'],
        }),
        adapterDir: null,
        rng: Rng.fromSeed(0),
      });
      const shape = [B, T];
      // int32 as the trainer feeds webgpu (int64 arithmetic has no WebGPU kernels).
      const ids = new Int32Array(B * T);
      const batch = {
        tensors: {
          input_ids: { data: ids, shape, dtype: 'int32' as const },
          attention_mask: { data: ids, shape, dtype: 'int32' as const },
          labels: { data: ids, shape, dtype: 'int32' as const },
        },
        tokens: B * T,
        examples: B,
      };
      const step = buildFusedStepGraph(new SftObjective(params.forward, params.initial), batch, {
        adamW: ADAMW_DEFAULTS,
        maxGradNorm: 1,
        weightDecayAll: true,
        ...(webgpu ? WEBGPU_LAYOUT : {}),
      });
      const types = opTypes(step.graph);
      const byType: Record<string, number> = {};
      for (const t of types) byType[t] = (byType[t] ?? 0) + 1;
      result[`${scale}${webgpu ? ' as on webgpu' : ' as on the CPU'}`] = {
        nodes: types.length,
        cpuNodes: fallbackNodes(step.graph).length,
        byType: Object.fromEntries(Object.entries(byType).sort((a, b) => b[1] - a[1])),
      };
    }
    console.log(JSON.stringify(result, null, 1));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
