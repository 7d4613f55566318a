/**
 * On WebGPU the trainer feeds int32 ids, masks and labels (int32-batch.ts) and updates the parameters as flat
 * buffers: its SFT step graphs then have no node the WebGPU provider would run on the CPU (static check against
 * the measured kernel table), and int32 batches train exactly as int64 ones.
 */
import { ADAMW_DEFAULTS } from '../../../src/engine/optim';
import { assertGpuPlaceable, fallbackNodes } from '../../../src/engine/placement';
import { loadModel } from '../../../src/models/model';
import { collateSft } from '../../../src/training/data/batches';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { int32Batch } from '../../../src/training/int32-batch';
import { Batch } from '../../../src/training/objective';
import { parameterize } from '../../../src/training/parameterization';
import { Rng } from '../../../src/training/rng';
import { SftObjective } from '../../../src/training/sft';
import { buildFusedStepGraph, buildGradientGraph, buildUpdateGraph } from '../../../src/training/step-graphs';
import { TrainState } from '../../../src/training/train-state';
import { Trainer } from '../../../src/training/trainer';
import { hfTiny } from '../../helpers/fixtures';

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

const optimizer = { adamW: ADAMW_DEFAULTS, maxGradNorm: 1, weightDecayAll: false, flatUpdate: true };

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
    results.push([await trainer.step([batch], 1e-3), await trainer.step([batch], 1e-3)]);
    await trainer.release();
  }
  expect(results[1]).toEqual(results[0]);
});
