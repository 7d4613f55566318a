/**
 * The memory layouts (blocked attention, chunked head and loss, checkpointed layers) where no PyTorch trajectory
 * checks them directly: qwen2 (tied embeddings, so the chunked head's weight gradient meets the embedding's) and
 * GPT-2 (Conv1D layers, learned positions, tied wte) trained plain and with every technique on; Baichuan2's
 * NormHead (the normalized weight is a captured, differentiated tensor); the RL objective; forward-only
 * log-probabilities. The plain runs are the ones proven against PyTorch; the others must follow them
 * within float32 round-off.
 */
import * as path from 'node:path';
import { Feed, createSession } from '../../../src/engine/session';
import { LoadedModel, loadModel } from '../../../src/models/model';
import { SafetensorsReader } from '../../../src/models/safetensors';
import { ScoredBatch, TokenLogProbs } from '../../../src/training/alignment/log-probs';
import { RL_BATCH, RlObjective } from '../../../src/training/alignment/rl/rl-objective';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { Batch, HostTensor, Objective } from '../../../src/training/objective';
import { Parameterization, parameterize } from '../../../src/training/parameterization';
import { Rng } from '../../../src/util/rng';
import { SftObjective } from '../../../src/training/sft';
import { TrainState } from '../../../src/training/train-state';
import { OUT, buildGradientGraph } from '../../../src/training/step-graphs';
import { StepResult, Trainer } from '../../../src/training/trainer';
import { hfTiny } from '../../helpers/fixtures';
import { RECOMPUTED } from '../../helpers/memory-layout';
import { SAMPLE, tinyConfigs, tinyModel } from '../models/families/tiny';

const REFS = path.resolve(process.cwd(), 'test/fixtures/transformers-refs');
/** max |a[i] - b(i)| */
const maxAbs = (a: Float32Array, b: (i: number) => number) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b(i))), 0);
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);

function sftBatch(): Batch & { tensors: ScoredBatch['tensors'] } {
  const r = SafetensorsReader.open(hfTiny('sft_batch.safetensors'));
  const tensor = (name: string): HostTensor => ({
    data: BigInt64Array.from(r.integers(name), BigInt),
    shape: r.entry(name).shape,
    dtype: 'int64',
  });
  const [examples] = r.entry('input_ids').shape;
  const tensors = {
    input_ids: tensor('input_ids'),
    attention_mask: tensor('attention_mask'),
    labels: tensor('labels'),
  };
  return { tensors, tokens: r.integers('attention_mask').reduce((a, b) => a + b, 0), examples };
}

function params(model: LoadedModel, scale: 'full' | 'lora'): Parameterization {
  return parameterize(model, {
    scale,
    hyperparameters: parseHyperparameters({
      loraRank: 4,
      loraAlpha: 8,
      loraDropout: 0.1,
      loraTargets: 'all-linear',
    }),
    adapterDir: null,
    rng: Rng.fromSeed(1),
  });
}

/** `steps` optimizer steps on `batch`, dropout masks drawn from a fixed seed. */
async function train(objective: Objective, batch: Batch, steps: number, layout = {}) {
  const rng = Rng.fromSeed(2);
  const trainer = new Trainer(objective, TrainState.initial(objective.initialParameters()), {
    adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    maxGradNorm: 1,
    weightDecayAll: false,
    threads: 2,
    random: () => rng.next(),
    ...layout,
  });
  const results: StepResult[] = [];
  for (let i = 0; i < steps; i++) results.push(await trainer.step([batch], 1e-2));
  await trainer.release();
  return { results, values: await trainer.state.valuesToHost() };
}

/** d loss_sum / d param of one micro-batch at the initial values (the accumulation graph). */
async function gradientsOf(
  objective: Objective,
  batch: Batch,
  layout = {},
): Promise<Map<string, Float32Array>> {
  const step = buildGradientGraph(objective, batch, layout);
  const session = await createSession(step.graph, { threads: 2 });
  const feeds: Record<string, Feed> = {};
  for (const [name, t] of Object.entries(batch.tensors)) feeds[name] = { data: t.data, shape: t.shape };
  for (const name of step.paramNames) {
    const v = objective.initialParameters().get(name)!;
    feeds[name] = { data: v.data, shape: v.shape };
    feeds[OUT.gradAcc(name)] = { data: new Float32Array(v.data.length), shape: v.shape };
  }
  for (const n of step.noise)
    feeds[n.input.name] = { data: new Float32Array(n.input.size).fill(1), shape: n.input.shape };
  const out = await session.run(feeds);
  await session.release();
  return new Map(step.paramNames.map((n) => [n, out[OUT.gradAccNext(n)].data as Float32Array]));
}

async function expectSameRuns(objective: Objective, batch: Batch, steps: number) {
  const plain = await train(objective, batch, steps);
  const saving = await train(objective, batch, steps, RECOMPUTED);
  saving.results.forEach((r, i) => {
    const p = plain.results[i];
    expect(rel(r.loss, p.loss)).toBeLessThan(1e-5);
    expect(rel(r.gradNorm, p.gradNorm)).toBeLessThan(1e-5);
    for (const [name, v] of Object.entries(r.metrics))
      expect(Math.abs(v - p.metrics[name])).toBeLessThan(1e-5);
  });
  // The gradients of the first step, tensor by tensor (the norm above sums them all).
  const [plainGrads, savingGrads] = [
    await gradientsOf(objective, batch),
    await gradientsOf(objective, batch, RECOMPUTED),
  ];
  for (const [name, g] of plainGrads) {
    const scale = maxAbs(g, () => 0) || 1;
    expect(maxAbs(savingGrads.get(name)!, (i) => g[i]) / scale).toBeLessThan(1e-5);
  }
}

test.each([
  ['qwen2', 'full'],
  ['gpt2', 'full'],
  ['gpt2', 'lora'],
] as const)('%s-tiny %s SFT follows the plain run with every memory technique on', async (family, scale) => {
  const p = params(await loadModel(path.join(REFS, `${family}-tiny`)), scale);
  await expectSameRuns(new SftObjective(p.forward, p.initial), sftBatch(), 2);
});

test("Baichuan2's NormHead: the chunked head's gradients equal the plain head's", async () => {
  const tiny = tinyModel(tinyConfigs.baichuan, 5);
  const model = { ...tiny, config: { ...tiny.config, normHead: true } };
  const p = params(model, 'full');
  const ids = BigInt64Array.from(SAMPLE.ids.flat(), BigInt);
  const mask = BigInt64Array.from(SAMPLE.mask.flat(), BigInt);
  const int64 = (data: BigInt64Array): HostTensor => ({ data, shape: [2, 8], dtype: 'int64' });
  const labels = ids.map((v, i) => (mask[i] ? v : -100n));
  const batch = {
    tensors: { input_ids: int64(ids), attention_mask: int64(mask), labels: int64(labels) },
    tokens: 12,
    examples: 2,
  };
  const objective = new SftObjective(p.forward, p.initial);
  const plain = await gradientsOf(objective, batch);
  const chunked = await gradientsOf(objective, batch, RECOMPUTED);
  for (const [name, g] of plain) {
    const scale = maxAbs(g, () => 0) || 1;
    expect(maxAbs(chunked.get(name)!, (i) => g[i]) / scale).toBeLessThan(1e-5);
  }
});

test('RL: old log-probabilities and the policy update follow the plain graphs', async () => {
  const model = await loadModel(hfTiny('llama-tiny'));
  const p = params(model, 'lora');
  const sft = sftBatch();
  const scored = { tensors: sft.tensors, shape: sft.tensors.input_ids.shape as [number, number] };
  const plain = new TokenLogProbs(p.forward, { threads: 2 });
  const chunked = new TokenLogProbs(p.forward, { threads: 2, memoryLayout: RECOMPUTED.memoryLayout });
  const logps = (await plain.run(scored, p.initial)).values;
  const chunkedLogps = (await chunked.run(scored, p.initial)).values;
  await Promise.all([plain.release(), chunked.release()]);
  expect(logps.some((v) => v !== 0)).toBe(true);
  expect(maxAbs(chunkedLogps, (i) => logps[i])).toBeLessThan(1e-5);

  const [n, t] = scored.shape;
  const float = (data: Float32Array, shape: number[]): HostTensor => ({ data, shape, dtype: 'float32' });
  const batch: Batch = {
    ...sft,
    tensors: {
      ...sft.tensors,
      [RL_BATCH.oldLogps]: float(logps, [n, t]),
      [RL_BATCH.refLogps]: float(
        logps.map((v) => v - 0.05),
        [n, t],
      ),
      [RL_BATCH.advantages]: float(
        Float32Array.from({ length: n }, (_, i) => i - 1.5),
        [n],
      ),
    },
  };
  await expectSameRuns(new RlObjective(p.forward, p.initial, { clipEpsilon: 0.2, klCoef: 0.05 }), batch, 2);
});

test.each([
  ['lora', 1],
  ['full', 2],
] as const)(
  "a %s step graph's chunked loss runs each chunk's cross-entropy %i time(s) (an adapter's rows get their gradient in the forward pass; a trained head's chunks are recomputed)",
  async (scale, times) => {
    const p = params(await loadModel(path.join(REFS, 'qwen2-tiny')), scale);
    const batch = sftBatch();
    const step = buildGradientGraph(new SftObjective(p.forward, p.initial), batch, RECOMPUTED);
    const [examples, t] = batch.tensors.input_ids.shape;
    const chunks = Math.ceil((examples * t) / RECOMPUTED.memoryLayout.lossChunk!);
    const picks = step.graph.nodes.filter((n) => n.opType === 'GatherElements').length;
    expect(picks).toBe(times * chunks);
  },
);
