/**
 * runEvaluation on the PyTorch fixtures' llama-tiny: answers equal unbatched greedy generation whatever the
 * batching, a LoRA adapter answers as its merged model does, conversation rows are asked through the chat
 * template, prompts without room are reported, a stop request ends the run between batches.
 */
import { UserInputError } from '../../../src/errors';
import { scoreSample } from '../../../src/evaluation/metrics';
import { bucketWidth } from '../../../src/models/generation-shape';
import { EvaluationRunSpec, runEvaluation, ScoredSample } from '../../../src/evaluation/run-evaluation';
import { decodeText, Generator } from '../../../src/models/generate';
import { loadAdapter, loadModel, mergeAdapter, ResolvedAdapter } from '../../../src/models/model';
import type { SftRow } from '../../../src/data';
import { hfTiny } from '../../helpers/fixtures';

const MODEL = hfTiny('llama-tiny');
const ROWS: SftRow[] = [
  { prompt: 'The sky is', response: ' blue.' },
  { prompt: 'Once upon a time, in a land far away, there lived', response: ' a king.' },
  { prompt: '你好', response: '世界' },
  {
    messages: [
      { role: 'user', content: 'Name a colour.' },
      { role: 'assistant', content: 'Red.' },
    ],
  },
  { prompt: 'One two three four five six seven', response: ' eight' },
  { prompt: 'A', response: 'B' },
];

const spec = (over: Partial<EvaluationRunSpec> = {}): EvaluationRunSpec => ({
  modelPath: MODEL,
  adapterPath: null,
  rows: ROWS,
  indices: ROWS.map((_, i) => 10 + i),
  generation: { maxNewTokens: 8, temperature: 0, topP: 1, seed: 0, batchSize: 4 },
  scoring: { segmenter: 'char', stopwords: 'none' },
  executionProvider: 'cpu',
  ...over,
});

async function evaluate(s: EvaluationRunSpec, stopAfter = Infinity) {
  const batches: ScoredSample[][] = [];
  let total = -1;
  const result = await runEvaluation(s, {
    onStart: (info) => void (total = info.total),
    onBatch: (b) => void batches.push(b),
    shouldStop: () => batches.length >= stopAfter,
  });
  const samples = batches.flat().sort((a, b) => a.index - b.index);
  return { ...result, total, batches, samples };
}

/** Each prompt generated alone, unpadded: what every batched answer must equal. */
async function alone(adapter?: ResolvedAdapter, merged = false): Promise<string[]> {
  const base = await loadModel(MODEL);
  const model = merged && adapter?.kind === 'lora' ? mergeAdapter(base, adapter) : base;
  const generator = new Generator(model, { adapter: merged ? undefined : adapter });
  const tok = model.tokenizer;
  const out: string[] = [];
  for (const row of ROWS) {
    const ids =
      'messages' in row
        ? tok.encode(tok.applyChatTemplate(row.messages.slice(0, -1), { addGenerationPrompt: true }), {
            addSpecialTokens: false,
          })
        : tok.encode(row.prompt);
    const r = await generator.generate({ prompts: [ids], maxNewTokens: 8 });
    out.push(decodeText(model, r.generated[0]));
  }
  await generator.release();
  return out;
}

describe('runEvaluation', () => {
  it('answers every row as unbatched greedy generation does, in batches of any size, and scores it', async () => {
    const expected = await alone();
    for (const batchSize of [1, 4, 6]) {
      const run = await evaluate(spec({ generation: { ...spec().generation, batchSize } }));
      expect(run).toMatchObject({ stopped: false, scored: 6, total: 6 });
      expect(run.batches.map((b) => b.length)).toEqual(
        batchSize === 4 ? [4, 2] : Array(6 / batchSize).fill(batchSize),
      );
      expect(run.samples.map((s) => s.index)).toEqual([10, 11, 12, 13, 14, 15]);
      expect(run.samples.map((s) => s.prediction)).toEqual(expected);
      for (const s of run.samples) {
        expect(s.scores).toEqual(
          scoreSample(s.prediction, s.reference, { segmenter: 'char', stopwords: 'none' }),
        );
      }
    }
  });

  it('asks conversation rows through the chat template and scores against the last message', async () => {
    const { samples } = await evaluate(spec());
    const tok = (await loadModel(MODEL)).tokenizer;
    expect(samples[3].prompt).toBe(
      tok.applyChatTemplate([{ role: 'user', content: 'Name a colour.' }], { addGenerationPrompt: true }),
    );
    expect(samples[3].reference).toBe('Red.');
    expect(samples[0]).toMatchObject({ prompt: 'The sky is', reference: ' blue.' });
  });

  it('with a LoRA adapter answers as the merged model does', async () => {
    const adapter = loadAdapter(hfTiny('lora_final'), await loadModel(MODEL));
    const merged = await alone(adapter, true);
    const { samples } = await evaluate(spec({ adapterPath: hfTiny('lora_final') }));
    expect(samples.map((s) => s.prediction)).toEqual(merged);
    expect(merged).not.toEqual(await alone());
  });

  it('with a prompt-tuning adapter answers as the adapter does on each prompt alone', async () => {
    const adapter = loadAdapter(hfTiny('prompt_final'), await loadModel(MODEL));
    const { samples } = await evaluate(spec({ adapterPath: hfTiny('prompt_final') }));
    expect(samples.map((s) => s.prediction)).toEqual(await alone(adapter));
  });

  it('reports prompts that leave no room for maxNewTokens, and fails when none is left', async () => {
    const long = { prompt: 'word '.repeat(300), response: 'x' };
    const skipped: { index: number; reason: string }[] = [];
    const result = await runEvaluation(spec({ rows: [ROWS[0], long], indices: [0, 1] }), {
      onStart: (info) => void skipped.push(...info.skipped),
      onBatch: () => undefined,
      shouldStop: () => false,
    });
    expect(result.scored).toBe(1);
    expect(skipped).toEqual([{ index: 1, reason: expect.stringMatching(/no room to generate/) }]);
    await expect(evaluate(spec({ rows: [long], indices: [0] }))).rejects.toThrow(UserInputError);
  });

  it('stops between batches when asked', async () => {
    const run = await evaluate(spec({ generation: { ...spec().generation, batchSize: 2 } }), 1);
    expect(run.stopped).toBe(true);
    expect(run.batches).toHaveLength(1);
    expect(run.scored).toBe(2);
  });

  it('samples reproducibly from the seed when temperature > 0', async () => {
    const sampled = (seed: number) =>
      evaluate(spec({ generation: { maxNewTokens: 8, temperature: 1.5, topP: 1, seed, batchSize: 4 } }));
    const [a, b, other] = [await sampled(7), await sampled(7), await sampled(8)];
    const answers = (r: { samples: ScoredSample[] }) => r.samples.map((s) => s.prediction);
    expect(answers(a)).toEqual(answers(b));
    expect(answers(a)).not.toEqual(answers(other));
    expect(answers(a)).not.toEqual(await alone());
  });

  it('pads prompts to a few bucketed widths', () => {
    expect([1, 8, 9, 16, 17, 100].map((n) => bucketWidth(n, 1000))).toEqual([8, 8, 16, 16, 32, 128]);
    expect(bucketWidth(100, 120)).toBe(120);
    expect(bucketWidth(130, 120)).toBe(130);
  });
});

test('an evaluation over the memory budget fails before its first batch, stating estimate and budget', async () => {
  let started = false;
  process.env.WHETSTONE_MEMORY_BUDGET = '100MiB';
  try {
    const run = runEvaluation(spec(), {
      onStart: () => void (started = true),
      onBatch: () => undefined,
      shouldStop: () => false,
    });
    await expect(run).rejects.toBeInstanceOf(UserInputError);
    await expect(run).rejects.toMatchObject({
      code: 'MEMORY_BUDGET_EXCEEDED',
      message: expect.stringMatching(
        /^this evaluation needs an estimated \d+\.\d GiB of memory \(batch 4 x \d+ prompt \+ 8 new tokens: .* budget of 0\.1 GiB; no batch size or maxNewTokens fits/,
      ),
    });
  } finally {
    delete process.env.WHETSTONE_MEMORY_BUDGET;
  }
  expect(started).toBe(false);
});
