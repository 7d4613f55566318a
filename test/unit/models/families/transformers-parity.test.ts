/**
 * Parity with transformers 5.17 / peft 0.21 for LLaMA, Qwen2 and GPT-2 (test/fixtures/transformers-refs, built the
 * way hf-tiny's generator builds its models): logits, loss, greedy generation (single and left-padded batches),
 * and PEFT LoRA ('all-linear', random B) and prompt-tuning adapters.
 */
import * as path from 'node:path';
import { WEBGPU_GRAPH_LAYOUT } from '../../../../src/engine/layout';
import { forwardLogits, meanLoss, tokenLosses } from '../../../../src/models/forward';
import { Generator } from '../../../../src/models/generate';
import { loadAdapter, loadModel, LoadedModel, ResolvedAdapter } from '../../../../src/models/model';
import { SafetensorsReader } from '../../../../src/models/safetensors';
import { hfTiny } from '../../../helpers/fixtures';
import { maxDiff } from './tiny';

const REFS = path.resolve(process.cwd(), 'test/fixtures/transformers-refs');

function rows(reader: SafetensorsReader, name: string): number[][] {
  const [b, t] = reader.entry(name).shape;
  const flat = reader.integers(name);
  return Array.from({ length: b }, (_, i) => flat.slice(i * t, (i + 1) * t));
}

describe.each(['llama', 'qwen2', 'gpt2'])('%s-tiny against transformers', (family) => {
  let model: LoadedModel;
  let lora: ResolvedAdapter;
  let prompt: ResolvedAdapter;
  const ref = SafetensorsReader.open(path.join(REFS, `${family}-tiny`, 'reference.safetensors'));
  const batch = { ids: rows(ref, 'input_ids'), mask: rows(ref, 'attention_mask') };
  const left = {
    prompts: rows(ref, 'left_ids'),
    attentionMask: rows(ref, 'left_mask'),
    maxNewTokens: 8,
    eosTokenIds: [],
  };
  const width = left.prompts[0].length;
  const newTokens = (name: string) => rows(ref, name).map((r) => r.slice(width));

  beforeAll(async () => {
    model = await loadModel(family === 'llama' ? hfTiny('llama-tiny') : path.join(REFS, `${family}-tiny`));
    lora = loadAdapter(path.join(REFS, `${family}-lora`), model);
    prompt = loadAdapter(path.join(REFS, `${family}-prompt`), model);
  });

  it('logits within 1e-4 where the mask is 1, and the loss', async () => {
    const { data } = await forwardLogits(model, batch);
    expect(maxDiff(data, ref.float32('logits'), batch.mask, 512)).toBeLessThan(1e-4);
    const texts = batch.ids.map((r, i) => r.filter((_, j) => batch.mask[i][j]));
    expect(Math.abs(meanLoss(await tokenLosses(model, texts)).loss - ref.float32('loss')[0])).toBeLessThan(
      1e-5,
    );
  });

  // WebGPU's layout (engine/layout: pre-transposed weights, frozen q/k/v joined in the graph), run on the CPU.
  it("logits laid out for webgpu, LoRA's too, within 1e-4", async () => {
    const graphLayout = WEBGPU_GRAPH_LAYOUT;
    const plain = await forwardLogits(model, batch, { graphLayout });
    expect(maxDiff(plain.data, ref.float32('logits'), batch.mask, 512)).toBeLessThan(1e-4);
    const adapted = await forwardLogits(model, batch, { adapter: lora, graphLayout });
    expect(maxDiff(adapted.data, ref.float32('lora_logits'), batch.mask, 512)).toBeLessThan(1e-4);
  });

  it('greedy generation: generate_greedy16, and a left-padded batch', async () => {
    const gen = new Generator(model, { threads: 1 });
    const single = await gen.generate({
      prompts: [ref.integers('generate_prompt')],
      maxNewTokens: 16,
      eosTokenIds: [],
    });
    expect(single.sequences[0]).toEqual(ref.integers('generate_greedy16'));
    expect((await gen.generate(left)).generated).toEqual(newTokens('left_generated'));
    await gen.release();
  });

  it('PEFT LoRA on all linear layers: logits and left-padded generation', async () => {
    expect(lora).toMatchObject({ kind: 'lora', r: 4, alpha: 8 });
    const { data } = await forwardLogits(model, batch, { adapter: lora });
    expect(maxDiff(data, ref.float32('lora_logits'), batch.mask, 512)).toBeLessThan(1e-4);
    const gen = new Generator(model, { adapter: lora, threads: 1 });
    expect((await gen.generate(left)).generated).toEqual(newTokens('lora_generated'));
    await gen.release();
  });

  /**
   * PEFT drops position ids under prompt tuning, so in its left-padded batches a row's positions count the padding
   * before it and its tokens depend on its padding. Ours give every row the positions it has alone (as transformers
   * does without an adapter): the unpadded row must match PEFT, each padded row must match itself generated alone.
   */
  it('PEFT prompt tuning: logits of the text positions; generation of unpadded rows', async () => {
    const { data } = await forwardLogits(model, batch, { adapter: prompt });
    expect(maxDiff(data, ref.float32('prompt_logits'), batch.mask, 512)).toBeLessThan(1e-4);
    const gen = new Generator(model, { adapter: prompt, threads: 1 });
    const batched = (await gen.generate(left)).generated;
    const full = left.attentionMask.findIndex((r) => !r.includes(0));
    expect(batched[full]).toEqual(newTokens('prompt_generated')[full]);
    for (const [i, row] of left.prompts.entries()) {
      const alone = row.filter((_, j) => left.attentionMask[i][j]);
      expect(
        (await gen.generate({ ...left, prompts: [alone], attentionMask: undefined })).generated[0],
      ).toEqual(batched[i]);
    }
    await gen.release();
  });
});
