import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sizeOf } from '../../../src/engine/graph';
import { writeDemoModel } from '../../../src/models/demo';
import { Generator } from '../../../src/models/generate';
import { loadModel, LoadedModel, mergeAdapter, resolveAdapter } from '../../../src/models/model';
import { SafetensorsReader } from '../../../src/models/safetensors';
import { Rng } from '../../../src/util/rng';
import { hfTiny } from '../../helpers/fixtures';

describe('generation with a static key/value cache (llama-tiny)', () => {
  let model: LoadedModel;
  let gen: Generator;
  const ref = SafetensorsReader.open(hfTiny('llama-tiny', 'reference.safetensors'));
  const prompt = ref.integers('generate_prompt');
  const expected = ref.integers('generate_greedy16');

  beforeAll(async () => {
    model = await loadModel(hfTiny('llama-tiny'));
    gen = new Generator(model, { threads: 1 });
  });
  afterAll(() => gen.release());

  it('greedy decoding reproduces generate_greedy16, with and without the cache', async () => {
    for (const useCache of [true, false]) {
      const out = await gen.generate({ prompts: [prompt], maxNewTokens: 16, eosTokenIds: [], useCache });
      expect(out.sequences[0]).toEqual(expected);
    }
  });

  it('rows padded on the left or the right generate what each prompt generates alone', async () => {
    const prompts = [prompt, prompt.slice(0, 3), [1, 200, 17, 45, 301, 9, 88, 5]];
    const alone = await Promise.all(
      prompts.map(
        async (p) => (await gen.generate({ prompts: [p], maxNewTokens: 6, eosTokenIds: [] })).generated[0],
      ),
    );
    const width = 8;
    const left = prompts.map((p) => [...Array(width - p.length).fill(0), ...p]);
    const leftMask = prompts.map((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]);
    const right = prompts.map((p) => [...p, ...Array(width - p.length).fill(0)]);
    const rightMask = prompts.map((p) => [...Array(p.length).fill(1), ...Array(width - p.length).fill(0)]);
    for (const [rowsIn, mask] of [
      [left, leftMask],
      [right, rightMask],
    ]) {
      for (const useCache of [true, false]) {
        const out = await gen.generate({
          prompts: rowsIn,
          attentionMask: mask,
          maxNewTokens: 6,
          eosTokenIds: [],
          useCache,
        });
        expect(out.generated).toEqual(alone);
        expect(out.sequences[1]).toEqual([...prompts[1], ...alone[1]]);
      }
    }
  });

  it('shape buckets (extra left padding and cache slots) change nothing', async () => {
    const exact = new Generator(model, { threads: 1, buckets: { prompt: 1, slots: 1 } });
    const coarse = new Generator(model, { threads: 1, buckets: { prompt: 32, slots: 128 } });
    const req = { prompts: [prompt, prompt.slice(0, 2)], maxNewTokens: 7, eosTokenIds: [] };
    for (const useCache of [true, false]) {
      const a = await exact.generate({ ...req, useCache });
      expect((await coarse.generate({ ...req, useCache })).generated).toEqual(a.generated);
      expect(a.sequences[0]).toEqual(expected.slice(0, prompt.length + 7));
    }
    await Promise.all([exact.release(), coarse.release()]);
  });

  it("refuses a prompt plus new tokens beyond the model's positions", async () => {
    await expect(gen.generate({ prompts: [prompt], maxNewTokens: 251 })).rejects.toThrow(
      /exceeds the model's limit of 256/,
    );
  });

  it('stops a row at an end-of-sequence id and keeps that id', async () => {
    const stopAt = expected[prompt.length + 3];
    const out = await gen.generate({ prompts: [prompt], maxNewTokens: 16, eosTokenIds: [stopAt] });
    const firstHit = expected.slice(prompt.length).indexOf(stopAt);
    expect(out.generated[0]).toEqual(expected.slice(prompt.length, prompt.length + firstHit + 1));
  });

  it('samples reproducibly from a seed; a tiny top-p keeps only the argmax', async () => {
    const sample = (seed: number, topP: number) =>
      gen.generate({
        prompts: [prompt],
        maxNewTokens: 10,
        eosTokenIds: [],
        sampling: { temperature: 1.5, topP, seed },
      });
    const a = await sample(7, 0.95);
    expect((await sample(7, 0.95)).generated).toEqual(a.generated);
    const others = await Promise.all([8, 9, 10].map((s) => sample(s, 0.95)));
    expect(others.some((o) => o.generated[0].join() !== a.generated[0].join())).toBe(true);
    expect((await sample(3, 1e-6)).sequences[0]).toEqual(expected.slice(0, prompt.length + 10));
  });
});

describe('generation from a bfloat16 checkpoint', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-generate-bf16-'));
    writeDemoModel(root, { hiddenSize: 64, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, dtype: 'BF16' });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('folded, cast at each use, or from float32 copies: the same tokens, cached or not', async () => {
    const rng = Rng.fromSeed(1);
    const prompts = [9, 4, 13].map((n) => Array.from({ length: n }, () => 3 + rng.int(256)));
    const req = { prompts, maxNewTokens: 12, eosTokenIds: [] };
    const copies = new Generator(await loadModel(root, { mapFrozen: false }), { threads: 1 });
    const expected = (await copies.generate({ ...req, useCache: false })).generated;
    await copies.release();
    const model = await loadModel(root);
    for (const halfWeights of ['fold', 'cast'] as const) {
      const gen = new Generator(model, { threads: 1, halfWeights });
      for (const useCache of [true, false])
        expect((await gen.generate({ ...req, useCache })).generated).toEqual(expected);
      // Another shape, then the first again: every shape keeps its sessions (the folded ones sharing one float32
      // copy, engine/float-weights), so going back compiles nothing; the tokens unchanged.
      const cached = gen.compiledSessions;
      const one = await gen.generate({ ...req, prompts: [prompts[1]], maxNewTokens: 70 });
      expect(one.generated[0].slice(0, 12)).toEqual(expected[1]);
      // Its prefill and decode sessions join the first shape's, none released.
      const both = gen.compiledSessions;
      expect(both).toBe(cached + 2);
      expect((await gen.generate(req)).generated).toEqual(expected);
      expect(gen.compiledSessions).toBe(both);
      await gen.release();
    }
  });
});

it('generates with an adapter of tensors of 1 MiB or more beside mapped weights (inline, not in-memory buffers)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-generate-lora-'));
  try {
    writeDemoModel(root, { hiddenSize: 64, numLayers: 1, intermediateSize: 1024 });
    const model = await loadModel(root);
    const rng = Rng.fromSeed(2);
    const spec = { kind: 'lora', r: 256, alpha: 256, dropout: 0, targets: 'all-linear' } as const;
    const adapter = { ...spec, weights: resolveAdapter(model, spec, () => rng.next()).weights };
    // PEFT starts B at zero: random B makes the adapter change the tokens.
    for (const name of adapter.weights.names().filter((n) => n.includes('lora_B')))
      adapter.weights.get(name).data.forEach((_, i, d) => (d[i] = 0.2 * (rng.next() - 0.5)));
    const down = adapter.weights.names().find((n) => n.includes('down_proj.lora_A'))!;
    expect(sizeOf(adapter.weights.shape(down)) * 4).toBeGreaterThanOrEqual(2 ** 20);
    const req = { prompts: [[1, 45, 100, 9, 77]], maxNewTokens: 8, eosTokenIds: [] };
    const unmerged = new Generator(model, { adapter, threads: 1 });
    const merged = new Generator(mergeAdapter(model, adapter), { threads: 1 });
    const base = new Generator(model, { threads: 1 });
    const expected = (await merged.generate(req)).generated;
    expect((await unmerged.generate(req)).generated).toEqual(expected);
    expect((await base.generate(req)).generated).not.toEqual(expected);
    await Promise.all([unmerged.release(), merged.release(), base.release()]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
