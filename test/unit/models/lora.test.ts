import * as fs from 'node:fs';
import { Graph } from '../../../src/engine/graph';
import { createSession } from '../../../src/engine/session';
import { forwardLogits } from '../../../src/models/forward';
import { Generator } from '../../../src/models/generate';
import {
  initLoraWeights,
  loraKey,
  loraModules,
  loraSpecFromConfig,
  resolveLoraTargets,
} from '../../../src/models/lora';
import {
  buildCausalLM,
  initialParameters,
  loadAdapter,
  loadModel,
  LoadedModel,
  LoraSpec,
  mergeAdapter,
  MemoryWeights,
  ResolvedAdapter,
} from '../../../src/models/model';
import { SafetensorsReader } from '../../../src/models/safetensors';
import { Rng } from '../../../src/util/rng';
import { hfTiny } from '../../helpers/fixtures';
import { maxDiff, randomArray, SAMPLE, tinyConfigs, tinyModel } from './families/tiny';

const lora = (m: LoadedModel, dir: string) => loadAdapter(hfTiny(dir), m) as ResolvedAdapter & LoraSpec;

describe('LoRA on llama-tiny (PEFT fixtures)', () => {
  let model: LoadedModel;
  const ref = SafetensorsReader.open(hfTiny('lora_final', 'reference.safetensors'));
  const batch = {
    ids: [0, 1, 2].map((b) => ref.integers('input_ids').slice(b * 35, (b + 1) * 35)),
    mask: [0, 1, 2].map((b) => ref.integers('attention_mask').slice(b * 35, (b + 1) * 35)),
  };

  beforeAll(async () => {
    model = await loadModel(hfTiny('llama-tiny'));
  });

  it('reads lora_final as PEFT wrote it and reproduces its logits within 1e-4', async () => {
    const adapter = lora(model, 'lora_final');
    expect(adapter).toMatchObject({
      kind: 'lora',
      r: 4,
      alpha: 8,
      dropout: 0,
      targets: ['q_proj', 'v_proj'],
    });
    const { data } = await forwardLogits(model, batch, { adapter });
    expect(maxDiff(data, ref.float32('logits'), batch.mask, 512)).toBeLessThan(1e-4);
  });

  it('merged weights (W + alpha/r B A) compute what the unmerged adapter does', async () => {
    const adapter = lora(model, 'lora_final');
    const unmerged = await forwardLogits(model, batch, { adapter });
    const merged = await forwardLogits(mergeAdapter(model, adapter), batch);
    expect(maxDiff(merged.data, unmerged.data, batch.mask, 512)).toBeLessThan(1e-5);
  });

  it('with B = 0 (lora_init) equals the base model', async () => {
    const adapter = lora(model, 'lora_init');
    const base = await forwardLogits(model, batch);
    const adapted = await forwardLogits(model, batch, { adapter });
    expect(maxDiff(adapted.data, base.data, batch.mask, 512)).toBe(0);
  });

  it("under policy 'adapter' only the PEFT tensors are params; the base weights are frozen initializers", () => {
    const adapter = lora(model, 'lora_init');
    const g = new Graph();
    const out = buildCausalLM(g, model, {
      inputIds: g.input('input_ids', [1, 4], 'int64'),
      attentionMask: g.input('attention_mask', [1, 4], 'int64'),
      policy: 'adapter',
      adapter,
    });
    const keys = SafetensorsReader.open(hfTiny('lora_init', 'adapter_model.safetensors')).names().sort();
    expect([...out.params.keys()].sort()).toEqual(keys);
    expect(
      g.tensors
        .filter((t) => t.kind === 'param')
        .map((t) => t.name)
        .sort(),
    ).toEqual(keys);
    // Every base weight once; gate and up joined (adjacent in the file: families/joined.ts).
    const frozen = g.tensors.filter((t) => t.kind === 'initializer').flatMap((t) => t.name.split('+'));
    expect(frozen.sort()).toEqual(model.weights.names().sort());
    const init = initialParameters(model, 'adapter', adapter);
    expect(init.get(keys[0])!.data).toEqual(adapter.weights.get(keys[0]).data);
    expect(out.noise).toEqual([]);
  });

  it('adapterEnabled: false builds the base model (the DPO reference)', async () => {
    const adapter = lora(model, 'lora_final');
    const g = new Graph();
    const out = buildCausalLM(g, model, {
      inputIds: g.input('input_ids', [1, 4], 'int64'),
      attentionMask: g.input('attention_mask', [1, 4], 'int64'),
      policy: 'frozen',
      adapter,
      adapterEnabled: false,
    });
    expect(g.tensors.some((t) => t.name.includes('lora_'))).toBe(false);
    expect(out.params.size).toBe(0);
  });

  it('initializes fresh adapters as PEFT does: A uniform within 1/sqrt(in), B zero, lora_init keys and shapes', () => {
    const spec: LoraSpec = { kind: 'lora', r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj'] };
    const rng = Rng.fromSeed(1);
    const fresh = initLoraWeights(model.config, spec, () => rng.next());
    const file = SafetensorsReader.open(hfTiny('lora_init', 'adapter_model.safetensors'));
    expect(fresh.names().sort()).toEqual(file.names().sort());
    for (const n of file.names()) expect(fresh.shape(n)).toEqual(file.entry(n).shape);
    const a = fresh.get(loraKey('model.layers.0.self_attn.q_proj', 'A')).data;
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.1);
    expect(fresh.get(loraKey('model.layers.0.self_attn.q_proj', 'B')).data.every((v) => v === 0)).toBe(true);
  });

  it('dropout > 0 adds a keep-mask input per adapted layer: ones give the adapted model, zeros the base', async () => {
    const adapter = { ...lora(model, 'lora_final'), dropout: 0.1 };
    const g = new Graph();
    const out = buildCausalLM(g, model, {
      inputIds: g.input('input_ids', [2, 5], 'int64'),
      attentionMask: g.input('attention_mask', [2, 5], 'int64'),
      policy: 'adapter',
      adapter,
    });
    expect(out.noise).toHaveLength(4);
    for (const n of out.noise) {
      expect(n).toMatchObject({ kind: 'dropout', p: 0.1 });
      expect(n.input.shape).toEqual([2, 5, 64]);
    }
    g.output('logits', out.logits);
    const session = await createSession(g, { threads: 1 });
    const rows = {
      ids: batch.ids.slice(0, 2).map((r) => r.slice(0, 5)),
      mask: [Array(5).fill(1), Array(5).fill(1)],
    };
    const run = async (keep: number) => {
      const feeds: Record<string, Float32Array | BigInt64Array> = {
        input_ids: BigInt64Array.from(rows.ids.flat(), BigInt),
        attention_mask: BigInt64Array.from(rows.mask.flat(), BigInt),
      };
      for (const [name] of out.params) feeds[name] = adapter.weights.get(name).data;
      for (const n of out.noise) feeds[n.input.name] = new Float32Array(2 * 5 * 64).fill(keep);
      return (await session.run(feeds)).logits.data as Float32Array;
    };
    const mask = rows.mask;
    expect(
      maxDiff(await run(1), (await forwardLogits(model, rows, { adapter })).data, mask, 512),
    ).toBeLessThan(1e-5);
    expect(maxDiff(await run(0), (await forwardLogits(model, rows)).data, mask, 512)).toBeLessThan(1e-5);
    await session.release();
  });

  it('generates with an unmerged adapter as with the merged model, cached or not', async () => {
    const adapter = lora(model, 'lora_final');
    const prompt = { prompts: [[1, 45, 300, 9, 77]], maxNewTokens: 10, eosTokenIds: [] };
    const unmerged = new Generator(model, { adapter, threads: 1 });
    const merged = new Generator(mergeAdapter(model, adapter), { threads: 1 });
    const expected = (await merged.generate(prompt)).generated;
    expect((await unmerged.generate(prompt)).generated).toEqual(expected);
    expect((await unmerged.generate({ ...prompt, useCache: false })).generated).toEqual(expected);
    await Promise.all([unmerged.release(), merged.release()]);
  });
});

describe('LoRA targets and configs', () => {
  const llama = tinyModel(tinyConfigs.llama);
  const gpt2 = tinyModel(tinyConfigs.gpt2);

  it("resolves 'all-linear' to every linear layer but the head, and defaults per family", () => {
    const all = resolveLoraTargets(llama.config, 'all-linear');
    expect(all).toHaveLength(14);
    expect(all).toContain('model.layers.1.mlp.down_proj');
    expect(all.some((p) => p.includes('lm_head'))).toBe(false);
    expect(resolveLoraTargets(gpt2.config, 'all-linear')).toContain('transformer.h.0.attn.c_proj');
    expect(loraModules(gpt2.config, { targets: 'all-linear' })).toHaveLength(8);
    expect(resolveLoraTargets(gpt2.config, undefined)).toEqual(['c_attn']);
    expect(loraModules(llama.config, { targets: ['layers.1.self_attn.q_proj'] }).map((m) => m.path)).toEqual([
      'model.layers.1.self_attn.q_proj',
    ]);
  });

  it('rejects targets that match nothing, naming the layers there are', () => {
    expect(() => loraModules(gpt2.config, { targets: ['q_proj'] })).toThrow(/match no layer.*c_attn/);
  });

  it('reads adapter_config.json fields and refuses settings that change the arithmetic', () => {
    const cfg = JSON.parse(fs.readFileSync(hfTiny('lora_final', 'adapter_config.json'), 'utf8'));
    expect(loraSpecFromConfig(cfg, 'x.json')).toEqual({
      kind: 'lora',
      r: 4,
      alpha: 8,
      dropout: 0,
      targets: ['q_proj', 'v_proj'],
    });
    expect(() => loraSpecFromConfig({ ...cfg, use_dora: true }, 'x.json')).toThrow(
      /x.json: use_dora is not supported/,
    );
    expect(() => loraSpecFromConfig({ ...cfg, r: 0 }, 'x.json')).toThrow(
      /x.json: r must be a positive integer/,
    );
  });

  it('GPT-2 Conv1D layers: merged (W + (B A)^T) equals the unmerged adapter on all linear layers', async () => {
    const spec: LoraSpec = { kind: 'lora', r: 2, alpha: 4, dropout: 0, targets: 'all-linear' };
    const rng = Rng.fromSeed(9);
    // Random A and B (B = 0 would hide a wrong orientation).
    const weights = new MemoryWeights(
      loraModules(gpt2.config, spec).flatMap((m) => [
        [loraKey(m.path, 'A'), { data: randomArray(rng, 2 * m.inFeatures, 0.3), shape: [2, m.inFeatures] }],
        [loraKey(m.path, 'B'), { data: randomArray(rng, m.outFeatures * 2, 0.3), shape: [m.outFeatures, 2] }],
      ]),
    );
    const adapter = { ...spec, weights };
    const unmerged = await forwardLogits(gpt2, SAMPLE, { adapter });
    const merged = await forwardLogits(mergeAdapter(gpt2, adapter), SAMPLE);
    const base = await forwardLogits(gpt2, SAMPLE);
    expect(maxDiff(merged.data, unmerged.data)).toBeLessThan(1e-4);
    expect(maxDiff(base.data, unmerged.data)).toBeGreaterThan(1e-2);
  });
});
