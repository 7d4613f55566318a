import { Graph } from '../../../src/engine/graph';
import { forwardLogits } from '../../../src/models/forward';
import { Generator } from '../../../src/models/generate';
import {
  buildCausalLM,
  loadAdapter,
  loadModel,
  LoadedModel,
  MemoryWeights,
  resolveAdapter,
} from '../../../src/models/model';
import { PROMPT_KEY, textPromptWeights } from '../../../src/models/prompt-tuning';
import { hfTiny } from '../../helpers/fixtures';
import { maxDiff } from './families/tiny';

const EMBED = 'model.embed_tokens.weight';

describe('prompt tuning (llama-tiny)', () => {
  let model: LoadedModel;
  const text = {
    ids: [
      [1, 45, 300, 12, 99],
      [1, 200, 17, 0, 0],
    ],
    mask: [
      [1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0],
    ],
  };
  const virtualIds = [5, 77, 300, 410];

  beforeAll(async () => {
    model = await loadModel(hfTiny('llama-tiny'));
  });

  /** A prompt adapter whose virtual tokens are the embeddings of `virtualIds`. */
  function adapterOfTokens() {
    const table = model.weights.get(EMBED).data;
    const data = new Float32Array(virtualIds.length * 64);
    virtualIds.forEach((id, i) => data.set(table.subarray(id * 64, (id + 1) * 64), i * 64));
    const weights = new MemoryWeights([[PROMPT_KEY, { data, shape: [4, 64] }]]);
    return resolveAdapter(model, { kind: 'prompt', numVirtualTokens: 4, weights }, () => 0);
  }

  it('prompt_final runs: logits for the text positions only', async () => {
    const adapter = loadAdapter(hfTiny('prompt_final'), model);
    expect(adapter).toMatchObject({ kind: 'prompt', numVirtualTokens: 8 });
    const { data, shape } = await forwardLogits(model, text, { adapter });
    expect(shape).toEqual([2, 5, 512]);
    expect(data.every(Number.isFinite)).toBe(true);
    expect(maxDiff(data, (await forwardLogits(model, text)).data, text.mask, 512)).toBeGreaterThan(1e-2);
  });

  it('equals the base model reading the virtual tokens as real ones first (text at positions N..)', async () => {
    const adapted = await forwardLogits(model, text, { adapter: adapterOfTokens() });
    const joined = await forwardLogits(model, {
      ids: text.ids.map((r) => [...virtualIds, ...r]),
      mask: text.mask.map((r) => [1, 1, 1, 1, ...r]),
    });
    const textPart = new Float32Array(2 * 5 * 512);
    [0, 1].forEach((b) =>
      textPart.set(joined.data.subarray((b * 9 + 4) * 512, (b * 9 + 9) * 512), b * 5 * 512),
    );
    expect(maxDiff(adapted.data, textPart, text.mask, 512)).toBeLessThan(1e-5);
  });

  it("under policy 'adapter' prompt_embeddings is the only param", () => {
    const g = new Graph();
    const out = buildCausalLM(g, model, {
      inputIds: g.input('input_ids', [2, 5], 'int64'),
      attentionMask: g.input('attention_mask', [2, 5], 'int64'),
      policy: 'adapter',
      adapter: loadAdapter(hfTiny('prompt_init'), model),
    });
    expect([...out.params.keys()]).toEqual([PROMPT_KEY]);
    expect(out.params.get(PROMPT_KEY)!.shape).toEqual([8, 64]);
    expect(out.logits.shape).toEqual([2, 5, 512]);
  });

  it('text init repeats or truncates the embeddings of the tokenized text (BOS included), as PEFT', () => {
    const ids = model.tokenizer.encode('hello');
    const w = textPromptWeights(model.weights, EMBED, model.tokenizer, 'hello', ids.length * 2 + 1).get(
      PROMPT_KEY,
    );
    const table = model.weights.get(EMBED).data;
    const row = (i: number) => Array.from(w.data.subarray(i * 64, (i + 1) * 64));
    const embedding = (id: number) => Array.from(table.subarray(id * 64, (id + 1) * 64));
    expect(row(0)).toEqual(embedding(ids[0]));
    expect(row(ids.length)).toEqual(embedding(ids[0]));
    expect(row(2 * ids.length)).toEqual(embedding(ids[0]));
    const short = textPromptWeights(model.weights, EMBED, model.tokenizer, 'hello', 1).get(PROMPT_KEY);
    expect(short.shape).toEqual([1, 64]);
  });

  it('generation: cached == uncached == the base model given the virtual tokens as a prompt prefix', async () => {
    const prompt = [1, 45, 300];
    const gen = new Generator(model, { adapter: adapterOfTokens(), threads: 1 });
    const base = new Generator(model, { threads: 1 });
    const req = { prompts: [prompt], maxNewTokens: 8, eosTokenIds: [] };
    const expected = (await base.generate({ ...req, prompts: [[...virtualIds, ...prompt]] })).generated;
    expect((await gen.generate(req)).generated).toEqual(expected);
    expect((await gen.generate({ ...req, useCache: false })).generated).toEqual(expected);
    await Promise.all([gen.release(), base.release()]);
  });
});
