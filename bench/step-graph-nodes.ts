/**
 * `npm run bench:step-graph-nodes` (or `npx tsx bench/step-graph-nodes.ts`): node counts of the trainer's fused SFT
 * step graph (forward, backward and AdamW in one graph) for the GPU check's larger model (llama family, hidden 512,
 * 8 layers, batch 16 x 256), full and LoRA, as the trainer builds it for the CPU (per-parameter AdamW, Gemm
 * linears) and for webgpu (grouped AdamW, pre-transposed weights), after each change in turn: `plain` (the plain
 * chains, one product per linear layer: `fuse: false`, `joinProjections: 'off'`), `fused` (engine/fused's RMSNorm,
 * RoPE and SwiGLU), `joined` (q/k/v and gate/up as one product each, as the trainer joins them on that provider:
 * families/joined.ts). On the WebGPU provider each node is at least one dispatch, recorded by the host, so fewer
 * nodes per step is less host time. One line per graph, then one JSON object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { opTypes } from '../src/engine/onnx';
import { fallbackNodes } from '../src/engine/placement';
import { writeDemoModel } from '../src/models/demo';
import { loadModel } from '../src/models/model';
import { Rng } from '../src/util/rng';
import { SftObjective } from '../src/training/sft';
import { buildFusedStepGraph } from '../src/training/step-graphs';
import { WEBGPU_LAYOUT } from '../src/training/trainer';
import { LARGE_MODEL, benchParameters } from './bench-model';

const MODEL = LARGE_MODEL;
const [B, T] = [16, 256];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-nodes-'));
  try {
    writeDemoModel(dir, { ...MODEL, seed: 0 });
    const model = await loadModel(dir);
    const result: Record<string, unknown> = {};
    const changes = [
      { change: 'plain', fuse: false, join: false },
      { change: 'fused', fuse: true, join: false },
      { change: 'joined', fuse: true, join: true },
    ];
    const variants = (['full', 'lora'] as const).flatMap((scale) =>
      [false, true].flatMap((webgpu) => changes.map((c) => ({ scale, webgpu, ...c }))),
    );
    for (const { scale, webgpu, change, fuse, join } of variants) {
      const params = benchParameters(model, scale, Rng.fromSeed(0));
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
        fuse,
        ...(join ? {} : { joinProjections: 'off' as const }),
      });
      const types = opTypes(step.graph);
      const byType: Record<string, number> = {};
      for (const t of types) byType[t] = (byType[t] ?? 0) + 1;
      const name = `llama ${scale} as on ${webgpu ? 'webgpu' : 'the CPU'}, ${change}`;
      const cpuNodes = webgpu ? fallbackNodes(step.graph).length : undefined;
      console.log(`${name}: ${types.length} nodes${webgpu ? `, ${cpuNodes} on the CPU` : ''}`);
      result[name] = {
        nodes: types.length,
        ...(webgpu ? { cpuNodes } : {}),
        byType: Object.fromEntries(Object.entries(byType).sort((a, b) => b[1] - a[1])),
      };
    }
    console.log(JSON.stringify(result));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
