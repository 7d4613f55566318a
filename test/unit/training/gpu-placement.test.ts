/**
 * On WebGPU the trainer feeds int32 ids, masks and labels (int32-batch.ts) and updates the parameters as flat
 * buffers: its SFT step graphs then have no node the WebGPU provider would run on the CPU (static check against
 * the measured kernel table), and int32 batches train exactly as int64 ones. Generation's cached runs take int32
 * inputs on WebGPU too (engine/layout `providerInts`), with the same effect.
 */
import { Graph } from '../../../src/engine/graph';
import { providerGraph, providerInts } from '../../../src/engine/layout';
import { opTypes } from '../../../src/engine/onnx';
import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import { assertGpuPlaceable, fallbackNodes } from '../../../src/engine/placement';
import { Feed, createSession } from '../../../src/engine/session';
import { buildCachedRun, Generator } from '../../../src/models/generate';
import { loadModel } from '../../../src/models/model';
import { collateSft } from '../../../src/training/batches';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { referenceForward } from '../../../src/training/alignment/dpo';
import { buildLogProbsGraph } from '../../../src/training/alignment/log-probs';
import { int32Batch } from '../../../src/training/int32-batch';
import { Batch } from '../../../src/training/objective';
import { parameterize } from '../../../src/training/parameterization';
import { Rng } from '../../../src/util/rng';
import { SftObjective } from '../../../src/training/sft';
import { buildFusedStepGraph, buildGradientGraph, buildUpdateGraph } from '../../../src/training/step-graphs';
import { TrainState } from '../../../src/training/train-state';
import { Trainer, WEBGPU_LAYOUT } from '../../../src/training/trainer';
import { hfTiny } from '../../helpers/fixtures';
import { RECOMPUTED } from '../../helpers/memory-layout';

/** Two padded rows with prompt tokens unlabelled, as the SFT collator builds them (int64). */
const paddedBatch = (): Batch =>
  collateSft(
    [
      { inputIds: [1, 5, 6, 7, 2], labels: [-100, -100, 6, 7, 2] },
      { inputIds: [1, 3, 4, 2], labels: [-100, 3, 4, 2] },
    ],
    { padTokenId: 0 },
  );

async function sft(scale: 'full' | 'lora') {
  const params = parameterize(await loadModel(hfTiny('llama-tiny')), {
    scale,
    hyperparameters: parseHyperparameters({ loraRank: 4, loraAlpha: 8, loraTargets: ['q_proj', 'v_proj'] }),
    adapterDir: null,
    rng: Rng.fromSeed(0),
  });
  return new SftObjective(params.forward, params.initial);
}

/** The graphs as the trainer builds them on webgpu. */
const optimizer = { adamW: ADAMW_DEFAULTS, maxGradNorm: 1, weightDecayAll: false, ...WEBGPU_LAYOUT };

test.each(['full', 'lora'] as const)(
  'the %s SFT step graph with blocked attention, a chunked loss and checkpointed layers has no CPU-placed node',
  async (scale) => {
    const step = buildFusedStepGraph(await sft(scale), int32Batch(paddedBatch()), {
      ...optimizer,
      ...RECOMPUTED,
    });
    expect(step.graph.nodes.some((n) => n.opType === 'Where' && n.inputs[1] === n.inputs[2])).toBe(true);
    assertGpuPlaceable(step.graph);
  },
);

test.each(['full', 'lora'] as const)(
  'the %s SFT step graph with the fused forms (RMSNorm, RoPE, SwiGLU) has no CPU-placed node and fewer nodes than with the plain chains',
  async (scale) => {
    const objective = await sft(scale);
    const batch = int32Batch(paddedBatch());
    const fused = buildFusedStepGraph(objective, batch, optimizer).graph;
    const plain = buildFusedStepGraph(objective, batch, { ...optimizer, fuse: false }).graph;
    // RoPE swaps the halves of each head with one Gather on the head axis.
    const swaps = (g: Graph) => g.nodes.filter((n) => n.opType === 'Gather' && n.attrs.axis === 3).length;
    expect(swaps(fused)).toBeGreaterThan(0);
    expect(swaps(plain)).toBe(0);
    expect(opTypes(fused).length).toBeLessThan(opTypes(plain).length);
    assertGpuPlaceable(fused);
  },
);

/** Nodes of an op type. */
const count = (g: Graph, opType: string) => g.nodes.filter((n) => n.opType === opType).length;
/** Products (MatMul and Gemm nodes) that reach the outputs. */
const products = (g: Graph) => opTypes(g).filter((t) => t === 'MatMul' || t === 'Gemm').length;

// llama-tiny has 2 layers. Forward: q/k/v's 3 products and gate/up's 2 become 1 each (3 fewer a layer); backward:
// as many fewer for the inputs' gradients, and for the full update as many for the weights'. Under LoRA nothing
// below layer 0's q/k/v trains, so no gradient flows into their input.
test.each([
  ['full', 2 * 9],
  ['lora', 3 + 1 + 6],
] as const)(
  'the %s SFT step graph with q/k/v and gate/up joined has %d fewer products and no CPU-placed node',
  async (scale, fewer) => {
    const objective = await sft(scale);
    const batch = int32Batch(paddedBatch());
    const joined = buildFusedStepGraph(objective, batch, optimizer).graph;
    const separate = buildFusedStepGraph(objective, batch, { ...optimizer, joinProjections: 'off' }).graph;
    expect(products(separate) - products(joined)).toBe(fewer);
    expect(opTypes(joined).length).toBeLessThan(opTypes(separate).length);
    assertGpuPlaceable(joined);
  },
);

test("on the CPU ('free') the trainable q/k/v and the frozen gate/up adjacent in the file are joined, the frozen q/k/v not", async () => {
  const cpu = { adamW: ADAMW_DEFAULTS, maxGradNorm: 1, weightDecayAll: false };
  const mapped = (g: Graph) => g.tensors.filter((t) => t.mapped).map((t) => t.name);
  const lora = buildFusedStepGraph(await sft('lora'), paddedBatch(), cpu).graph;
  const at = 'model.layers.0';
  expect(mapped(lora)).toEqual(
    expect.arrayContaining([
      `${at}.mlp.gate_proj.weight+${at}.mlp.up_proj.weight`,
      `${at}.self_attn.q_proj.weight`,
    ]),
  );
  expect(mapped(lora)).not.toContain(`${at}.mlp.up_proj.weight`);
  const joins = (g: Graph, kind: 'param' | 'initializer') =>
    g.nodes.filter((n) => n.opType === 'Concat' && n.inputs.every((t) => t.kind === kind)).length;
  expect(joins(lora, 'initializer')).toBe(0);
  const full = buildFusedStepGraph(await sft('full'), paddedBatch(), cpu);
  expect(full.paramNames).toContain(`${at}.self_attn.k_proj.weight`);
  expect(joins(full.graph, 'param')).toBe(2 * 2); // q/k/v and gate/up of each layer
});

test('int32Batch converts int64 tensors with the same values and refuses values beyond int32', () => {
  const batch = paddedBatch();
  const converted = int32Batch(batch);
  for (const [name, t] of Object.entries(batch.tensors)) {
    expect(converted.tensors[name].dtype).toBe('int32');
    expect(Array.from(converted.tensors[name].data, Number)).toEqual(Array.from(t.data, Number));
  }
  const big = {
    tensors: { ids: { data: BigInt64Array.of(2n ** 31n), shape: [1], dtype: 'int64' as const } },
  };
  expect(() => int32Batch({ ...big, tokens: 1, examples: 1 })).toThrow("batch tensor 'ids': 2147483648");
});

test.each(['full', 'lora'] as const)(
  'the %s SFT step graphs on an int32 batch have no CPU-placed node (int64 has some)',
  async (scale) => {
    const objective = await sft(scale);
    const batch = paddedBatch();
    expect(fallbackNodes(buildFusedStepGraph(objective, batch, optimizer).graph).length).toBeGreaterThan(0);
    const fused = buildFusedStepGraph(objective, int32Batch(batch), optimizer);
    assertGpuPlaceable(fused.graph);
    assertGpuPlaceable(buildGradientGraph(objective, int32Batch(batch)).graph);
    const shapes = fused.paramNames.map((name) => ({
      name,
      shape: fused.graph.feeds.find((t) => t.name === name)!.shape,
    }));
    assertGpuPlaceable(buildUpdateGraph(shapes, optimizer).graph);
    // Mixed precision: float16 products (Cast, MatMul, Gemm, Transpose in float16) stay on the device too.
    const mixed = { ...optimizer, mixedPrecision: true };
    const mixedStep = buildFusedStepGraph(objective, int32Batch(batch), mixed).graph;
    expect(mixedStep.nodes.some((n) => n.opType === 'MatMul' && n.inputs[0].dtype === 'float16')).toBe(true);
    assertGpuPlaceable(mixedStep);
    assertGpuPlaceable(buildGradientGraph(objective, int32Batch(batch), mixed).graph);
  },
);

test('an int32 batch trains exactly as the int64 batch (CPU, full)', async () => {
  const objective = await sft('full');
  const results = [];
  for (const batch of [paddedBatch(), int32Batch(paddedBatch())]) {
    const trainer = new Trainer(objective, TrainState.initial(objective.initialParameters()), {
      ...optimizer,
      random: () => 0.5,
    });
    // Everything but the (timed) compile seconds.
    const step = async () => {
      const { compileSeconds: _compile, compileParts: _parts, ...result } = await trainer.step([batch], 1e-3);
      return result;
    };
    results.push([await step(), await step()]);
    await trainer.release();
  }
  expect(results[1]).toEqual(results[0]);
});

describe('generation with the static KV cache', () => {
  const shape = { batch: 2, promptWidth: 4, total: 8, virtual: 0, cacheOutputs: 'present' as const };
  const cachedRun = async (prefill: boolean, dtype: 'int32' | 'int64') => {
    const g = new Graph();
    buildCachedRun(g, await loadModel(hfTiny('llama-tiny')), { ...shape, prefill, dtype });
    return g;
  };

  test('webgpu runs take int32 inputs; then the prefill and decode graphs have no CPU-placed node', async () => {
    expect(providerInts('webgpu')).toBe('int32');
    expect(providerInts('cpu')).toBe('int64');
    expect(fallbackNodes(await cachedRun(false, 'int64')).length).toBeGreaterThan(0);
    assertGpuPlaceable(await cachedRun(true, 'int32'));
    assertGpuPlaceable(await cachedRun(false, 'int32'));
  });

  test('laid out for webgpu (engine/layout): products through pre-transposed weights, frozen q/k/v joined, no CPU-placed node', async () => {
    const model = await loadModel(hfTiny('llama-tiny'));
    for (const prefill of [true, false]) {
      const [cpu, gpu] = [providerGraph('cpu'), providerGraph('webgpu')];
      for (const g of [cpu, gpu]) buildCachedRun(g, model, { ...shape, prefill, dtype: 'int32' });
      expect(count(cpu, 'Gemm')).toBeGreaterThan(0);
      expect(opTypes(gpu)).not.toContain('Gemm');
      // gate/up are joined on the CPU too (adjacent in the file), q/k/v only here: 2 products fewer a layer
      expect(products(cpu) - products(gpu)).toBe(2 * 2);
      assertGpuPlaceable(gpu);
    }
  });

  test('int32 prefill and decode give the same logits and caches as int64 (CPU)', async () => {
    // Row 0 left-padded (prompt [_, 5, 6, 7]), row 1 full; decode writes slot 4 with tokens 8 and 9.
    const mask = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0];
    const runs = [
      { ids: [0, 5, 6, 7, 1, 3, 4, 2], positions: [0, 0, 1, 2, 0, 1, 2, 3], slot: 0, logitsAt: [3, 3] },
      { ids: [8, 9], positions: [3, 4], slot: 4 },
    ];
    const results = [];
    for (const dtype of ['int64', 'int32'] as const) {
      const ints = (v: number[]) =>
        dtype === 'int32' ? Int32Array.from(v) : BigInt64Array.from(v, (x) => BigInt(x));
      let caches: Record<string, Feed> = {};
      const outputs = [];
      for (const [k, run] of runs.entries()) {
        const g = await cachedRun(k === 0, dtype);
        const session = await createSession(g);
        for (const t of g.feeds.filter((f) => f.name.startsWith('past.')))
          caches[t.name] ??= new Float32Array(t.size);
        const out = await session.run({
          ...caches,
          input_ids: ints(run.ids),
          attention_mask: ints(k === 0 ? mask : mask.map((v, i) => (i % 8 === 4 ? 1 : v))),
          position_ids: ints(run.positions),
          cache_slot: ints([run.slot]),
          ...(run.logitsAt ? { logits_at: ints(run.logitsAt) } : {}),
        });
        caches = Object.fromEntries(
          Object.entries(out)
            .filter(([n]) => n.startsWith('present.'))
            .map(([n, t]) => [n.replace('present.', 'past.'), t]),
        );
        outputs.push(Array.from(out.logits.data as Float32Array));
        await session.release();
      }
      results.push({
        outputs,
        caches: Object.values(caches).map((t) => Array.from((t as { data: Float32Array }).data)),
      });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0].caches[0].some((v) => v !== 0)).toBe(true);
  });
});

test.each(['full', 'lora', 'reference'] as const)(
  'the %s log-prob graph (DPO and RL) laid out for webgpu: int32 feeds, base weights pre-transposed, no CPU-placed node',
  async (kind) => {
    const model = await loadModel(hfTiny('llama-tiny'));
    const forward =
      kind === 'reference'
        ? referenceForward(model)
        : parameterize(model, {
            scale: kind,
            hyperparameters: parseHyperparameters({ loraRank: 4, loraAlpha: 8 }),
            adapterDir: null,
            rng: Rng.fromSeed(0),
          }).forward;
    const { graph } = buildLogProbsGraph(forward, [2, 8], { executionProvider: 'webgpu' });
    expect(graph.feeds.find((t) => t.name === 'input_ids')!.dtype).toBe('int32');
    // Only LoRA's thin products stay Gemms (fewer nodes than MatMuls through transposes).
    const gemms = graph.nodes.filter((n) => n.opType === 'Gemm');
    expect(gemms.every((n) => n.inputs[1].name.includes('.lora_'))).toBe(true);
    assertGpuPlaceable(graph);
  },
);

// Needs a WebGPU adapter: a GPU, or lavapipe on the CPU (`. scripts/gpu/lavapipe.sh`), and WHETSTONE_WEBGPU=1.
const withAdapter = process.env.WHETSTONE_WEBGPU === '1' ? test : test.skip;

withAdapter(
  'greedy generation on webgpu (int32 inputs, caches on the device) gives the CPU tokens',
  async () => {
    const model = await loadModel(hfTiny('llama-tiny'));
    const request = {
      prompts: [
        [1, 5, 6, 7],
        [1, 3],
      ],
      maxNewTokens: 12,
    };
    const sequences = [];
    for (const executionProvider of ['cpu', 'webgpu'] as const) {
      const generator = new Generator(model, { executionProvider });
      sequences.push((await generator.generate(request)).sequences);
      await generator.release();
    }
    expect(sequences[1]).toEqual(sequences[0]);
  },
);

withAdapter(
  'webgpu training keeps the state on the device and disposes the replaced state each step',
  async () => {
    const objective = await sft('full');
    const trainer = new Trainer(objective, TrainState.initial(objective.initialParameters()), {
      ...optimizer,
      executionProvider: 'webgpu',
      stateOnDevice: true,
      random: () => 0.5,
    });
    await trainer.step([paddedBatch()], 1e-3);
    const first = [...trainer.state.params.values()];
    await trainer.step([paddedBatch()], 1e-3);
    expect(new Set(first.flatMap((p) => [p.value, p.expAvg, p.expAvgSq].map((t) => t.location)))).toEqual(
      new Set(['none']),
    );
    expect(new Set([...trainer.state.params.values()].map((p) => p.value.location))).toEqual(
      new Set(['gpu-buffer']),
    );
    await trainer.release();
  },
);
