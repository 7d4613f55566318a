/**
 * evalMetricsAtEpochEnd's generation in the memory plan is as wide as the validation prompts it answers
 * (memory-plan.ts `validationPromptWidth`): the longest one's padded width where the prompts are known (the
 * worker's tokenized validation rows, `planJobMemory`), prompts as long as the training's text otherwise; and its
 * batch has no more rows than there are prompts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetRow } from '../../../src/data';
import { measureEvaluationPrompts } from '../../../src/evaluation/run-evaluation';
import { writeDemoModel } from '../../../src/models/demo';
import { batchWidth } from '../../../src/models/generation-shape';
import { LoadedModel, loadModel } from '../../../src/models/model';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import {
  type MemoryBudget,
  type PromptsExtent,
  type ValidationPrompts,
  lessTrainingGeneration,
  memoryJob,
  parameterCount,
  validationPromptWidth,
} from '../../../src/training/memory-plan';
import { TRAINING_METHODS } from '../../../src/training/methods';
import { planJobMemory } from '../../../src/training/prepare';
import { QWEN2_0_5B } from '../../helpers/model-shapes';

const NONE: MemoryBudget = { bytes: 0, what: 'nothing' };
const SFT = (raw: Record<string, unknown>, parameterScale: 'LORA' | 'PROMPT_TUNING' = 'LORA') =>
  parseHyperparameters(
    { evalMetricsAtEpochEnd: true, validationSplitRatio: 0.25, batchSize: 4, ...raw },
    ['hyperparameters'],
    { runner: 'job', method: 'SFT', parameterScale },
  );

describe("the width of evalMetricsAtEpochEnd's generation", () => {
  const o = (scale: 'lora' | 'prompt_tuning', hp: ReturnType<typeof SFT>, maxPositions = 32_768) => ({
    job: memoryJob(QWEN2_0_5B, 494e6, { method: 'SFT', scale, hp, maxPositions }),
    scale,
    hp,
  });
  /** What the generation takes off a budget. */
  const share = (r: ReturnType<typeof o>, validationPrompts?: ValidationPrompts) =>
    -lessTrainingGeneration(NONE, r.job, { scale: r.scale, hp: r.hp, validationPrompts }).bytes;

  test.each([
    ['lora', 0],
    ['prompt_tuning', 20],
  ] as const)('%s: the longest prompt padded as its batch is, else the training text', (scale, virtual) => {
    const hp = SFT(
      { maxSequenceLength: 2048, evalMaxNewTokens: 256, numVirtualTokens: 20 },
      scale === 'lora' ? 'LORA' : 'PROMPT_TUNING',
    );
    const r = o(scale, hp);
    const known = { longestTokens: 40, count: 4, maxPositions: 32_768 };
    expect(validationPromptWidth(r.job, virtual, 256)).toBe(2048);
    expect(validationPromptWidth(r.job, virtual, 256, known)).toBe(batchWidth(40, 32_768, virtual, 256));
    expect(batchWidth(40, 32_768, virtual, 256)).toBe(64);
    // Known prompts count as a job whose text were as wide as their batch: the width is all that changes.
    const asWide = o(scale, { ...hp, maxSequenceLength: 64 });
    expect(share(r, known)).toBe(share({ ...asWide, job: { ...r.job, sequenceLength: 64 + virtual } }));
    expect(share(r, known)).toBeLessThan(share(r) / 4);
    // A prompt as wide as the training's text costs what the bound does.
    expect(share(r, { longestTokens: 2048, count: 4, maxPositions: 32_768 })).toBe(share(r));
  });

  test('no more rows than there are validation prompts, and none without any', () => {
    const prompts = (count: number) => ({ longestTokens: 40, count, maxPositions: 32_768 });
    const batch = (batchSize: number) => o('lora', SFT({ batchSize, evalMaxNewTokens: 256 }));
    expect(share(batch(8), prompts(2))).toBeLessThan(share(batch(8), prompts(8)));
    expect(share(batch(8), prompts(2))).toBe(share(batch(2), prompts(8)));
    expect(share(batch(8), prompts(8))).toBe(share(batch(8), prompts(20)));
    // validation.ts builds no Generator where no prompt leaves room to answer.
    const none = batch(8);
    expect(lessTrainingGeneration(NONE, none.job, { ...none, validationPrompts: prompts(0) })).toBe(NONE);
  });
});

describe("the worker's plan measures its validation rows", () => {
  let dir: string;
  let model: LoadedModel;
  const budget = process.env.WHETSTONE_MEMORY_BUDGET;
  beforeAll(async () => {
    process.env.WHETSTONE_MEMORY_BUDGET = '64GiB';
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-validation-prompts-'));
    writeDemoModel(dir);
    model = await loadModel(dir);
  });
  afterAll(() => {
    if (budget === undefined) delete process.env.WHETSTONE_MEMORY_BUDGET;
    else process.env.WHETSTONE_MEMORY_BUDGET = budget;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the longest tokenized validation prompt sets the width; without rows, the bound', () => {
    const hp = SFT({ evalMaxNewTokens: 64 });
    const req = {
      method: TRAINING_METHODS.SFT,
      parameterScale: 'lora' as const,
      hyperparameters: hp,
      executionProvider: 'cpu' as const,
    };
    const rows = (prompt: string): DatasetRow[] => [
      { prompt: 'Q: one?', response: ' 1' },
      { prompt, response: ' 2' },
    ];
    const maxPositions = model.config.maxPositionEmbeddings;
    const job = memoryJob(model.config, parameterCount(model), {
      method: 'SFT',
      scale: 'lora',
      hp,
      maxPositions,
    });
    const share = (prompts?: PromptsExtent) =>
      -lessTrainingGeneration(NONE, job, {
        scale: 'lora',
        hp,
        validationPrompts: prompts && { ...prompts, maxPositions },
      }).bytes;
    const beside = (r?: DatasetRow[]) => planJobMemory(model, req, undefined, r).besideBytes;
    const long = rows('How many? '.repeat(30));
    const measured = measureEvaluationPrompts(long as never, model.tokenizer, {
      maxPositions,
      virtualTokens: 0,
      maxNewTokens: 64,
    });
    // Two prompts, fewer than the batch of 4.
    const longestTokens = model.tokenizer.encode('How many? '.repeat(30)).length;
    expect(measured).toEqual({ longestTokens, count: 2 });
    expect(beside(long)).toBe(share(measured));
    expect(beside(long)).toBeLessThan(share({ longestTokens, count: 4 }));
    expect(beside(rows('Q: two?'))).toBe(
      share({ longestTokens: model.tokenizer.encode('Q: two?').length, count: 2 }),
    );
    expect(beside(rows('Q: two?'))).toBeLessThan(beside(long));
    expect(beside()).toBe(share());
    expect(beside()).toBeGreaterThan(beside(long));
    // Without evalMetricsAtEpochEnd nothing is measured or counted.
    const plain = { ...req, hyperparameters: { ...hp, evalMetricsAtEpochEnd: false } };
    expect(planJobMemory(model, plain, undefined, long).besideBytes).toBe(0);
  });
});
