import * as fs from 'node:fs';
import { Graph } from '../../../../src/engine/graph';
import { createSession } from '../../../../src/engine/session';
import { forwardLogits, meanLoss, tokenLosses } from '../../../../src/models/forward';
import { loadModelConfig } from '../../../../src/models/config';
import {
  buildCausalLM,
  initialParameters,
  loadModel,
  LoadedModel,
  SafetensorsWeights,
} from '../../../../src/models/model';
import { SafetensorsReader } from '../../../../src/models/safetensors';
import { hfTiny } from '../../../helpers/fixtures';

/** Rows of a (B, T) integer tensor. */
function rows(reader: SafetensorsReader, name: string): number[][] {
  const [b, t] = reader.entry(name).shape;
  const flat = reader.integers(name);
  return Array.from({ length: b }, (_, i) => flat.slice(i * t, (i + 1) * t));
}

/** Largest |a - b| over positions whose mask is 1; logits (B, T, V). */
function maxDiffWhereMasked(a: Float32Array, b: Float32Array, mask: number[][], vocab: number): number {
  let max = 0;
  mask.flat().forEach((m, pos) => {
    if (!m) return;
    for (let v = 0; v < vocab; v++) max = Math.max(max, Math.abs(a[pos * vocab + v] - b[pos * vocab + v]));
  });
  return max;
}

describe('llama family against the PyTorch reference (llama-tiny)', () => {
  let model: LoadedModel;
  const ref = SafetensorsReader.open(hfTiny('llama-tiny', 'reference.safetensors'));
  const ids = rows(ref, 'input_ids');
  const mask = rows(ref, 'attention_mask');

  beforeAll(async () => {
    model = await loadModel(hfTiny('llama-tiny'));
  });

  it('computes the reference logits within 1e-4 where the mask is 1', async () => {
    const { data, shape } = await forwardLogits(model, { ids, mask });
    expect(shape).toEqual([3, 35, 512]);
    expect(maxDiffWhereMasked(data, ref.float32('logits'), mask, 512)).toBeLessThan(1e-4);
  });

  it('applies RoPE scaling: with llama3 frequencies position 0 is unchanged and later positions move', async () => {
    const scaled: LoadedModel = {
      ...model,
      config: {
        ...model.config,
        positions: {
          kind: 'rope',
          theta: 10000,
          scaling: {
            type: 'llama3',
            factor: 8,
            lowFreqFactor: 1,
            highFreqFactor: 4,
            originalMaxPositions: 8,
          },
        },
      },
    };
    const input = { ids: [ids[0].slice(0, 12)], mask: [mask[0].slice(0, 12)] };
    const [plain, moved] = [await forwardLogits(model, input), await forwardLogits(scaled, input)];
    const diffAt = (pos: number) =>
      Math.max(
        ...Array.from({ length: 512 }, (_, v) =>
          Math.abs(plain.data[pos * 512 + v] - moved.data[pos * 512 + v]),
        ),
      );
    expect(diffAt(0)).toBe(0);
    expect(diffAt(11)).toBeGreaterThan(1e-3);
  });

  it('gives the reference loss over the three texts', async () => {
    const texts = ids.map((r, i) => r.filter((_, j) => mask[i][j]));
    const { loss, tokens } = meanLoss(await tokenLosses(model, texts));
    expect(tokens).toBe(texts.reduce((s, t) => s + t.length - 1, 0));
    expect(Math.abs(loss - ref.float32('loss')[0])).toBeLessThan(1e-5);
  });

  it("under policy 'full' declares every weight as a param and computes the same logits from fed values", async () => {
    const init = initialParameters(model, 'full');
    expect([...init.keys()].sort()).toEqual(model.weights.names().sort());
    const g = new Graph();
    const out = buildCausalLM(g, model, {
      inputIds: g.input('input_ids', [3, 35], 'int64'),
      attentionMask: g.input('attention_mask', [3, 35], 'int64'),
      policy: 'full',
    });
    expect([...out.params.keys()].sort()).toEqual([...init.keys()].sort());
    g.output('logits', out.logits);
    const session = await createSession(g, { threads: 1 });
    const feeds: Record<string, Float32Array | BigInt64Array> = {
      input_ids: BigInt64Array.from(ids.flat(), BigInt),
      attention_mask: BigInt64Array.from(mask.flat(), BigInt),
    };
    for (const [name, t] of init) feeds[name] = t.data;
    const res = await session.run(feeds);
    await session.release();
    expect(
      maxDiffWhereMasked(res.logits.data as Float32Array, ref.float32('logits'), mask, 512),
    ).toBeLessThan(1e-4);
  });
});

describe('sequence-classification head (rm_init)', () => {
  it("reads the reward at each row's last real token, equal to the reference's initial chosen rewards", async () => {
    // rm_init has no tokenizer files (none is needed here): borrow llama-tiny's.
    const base = await loadModel(hfTiny('llama-tiny'));
    const model: LoadedModel = {
      dir: hfTiny('rm_init'),
      config: loadModelConfig(hfTiny('rm_init', 'config.json')),
      weights: new SafetensorsWeights(SafetensorsReader.openFolder(hfTiny('rm_init'))),
      tokenizer: base.tokenizer,
    };
    const pref = SafetensorsReader.open(hfTiny('pref_batch.safetensors'));
    const { data, shape } = await forwardLogits(
      model,
      { ids: rows(pref, 'chosen_ids'), mask: rows(pref, 'chosen_mask') },
      { lastToken: true },
    );
    expect(shape).toEqual([4, 1, 1]);
    const reference = JSON.parse(fs.readFileSync(hfTiny('reference.json'), 'utf8')).trajectories.reward_model;
    reference.initial_chosen_rewards.forEach((r: number, i: number) =>
      expect(Math.abs(data[i] - r)).toBeLessThan(1e-4),
    );
  });
});
