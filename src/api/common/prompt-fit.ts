/**
 * Whether the prompts of an evaluation or a generation fit the model, checked when it is created rather than
 * failing on a worker: every prompt encoded as the worker will encode it (the model's tokenizer, in a worker
 * thread, never on the API's event loop), the longest against what maxNewTokens and a prompt-tuning checkpoint's
 * virtual tokens leave of the model's positions (`promptRoom`, `leavesRoom`). BAD_USER_INPUT names maxNewTokens
 * when a lower one would fit the longest prompt, the prompts' own field otherwise.
 */
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DataSource } from 'typeorm';
import {
  leavesRoom,
  promptRoom,
  splitTrainValidation,
  type PromptOnlyRow,
  type PromptTemplate,
  type SftRow,
} from '../../data';
import { DatasetEntity, DatasetSplit, EvaluatedModelKind, TrainingJobEntity } from '../../db/entities';
import { quote } from '../../errors';
import { splitRow } from '../../evaluation/run-evaluation';
import { TOKENIZER_FILES } from '../../models/checkpoint-folder';
import type { PromptsExtent } from '../../training/memory-plan';
import { runnableModule } from '../../util/runnable-module';
import { badInput } from '../errors';
import type { GeneratingModel } from './generating-model';

/** The prompts of one job, in batches. */
export interface Prompts {
  template: PromptTemplate;
  /** The input field that holds them. */
  field: string;
  /** How a message names prompt `index`. */
  name(index: number): string;
  batches(): AsyncIterable<{ indices: number[]; rows: PromptOnlyRow[] }>;
}

/** Rows of a dataset read, and tokenized, at a time. */
const BATCH_ROWS = 1000;
/** Largest tokenizer or config file read (real ones are a few megabytes). */
const MAX_TOKENIZER_FILE_BYTES = 64 * 2 ** 20;
/** Heap of one tokenizer thread. */
const THREAD_HEAP_MB = 1024;
/** Tokenizer threads one API process runs at once; more checks wait. */
const MAX_THREADS = 2;

/** The tokenizer's reason is quoted up to this length (it names the model's files, not another tenant's). */
const REASON_CHARS = 300;

const at = (field: string) => ['input', field];

type DatasetRowPage = { index: number; split: DatasetSplit; data: SftRow }[];

/** An SFT dataset's rows (one split, or all) in index order, a page at a time. */
async function* rowPages(
  db: DataSource,
  dataset: DatasetEntity,
  split: string | null,
): AsyncGenerator<DatasetRowPage> {
  for (let after = -1; ;) {
    const page: DatasetRowPage = await db.query(
      `SELECT index, split, data FROM dataset_rows WHERE dataset_id = $1 AND ($2::text IS NULL OR split = $2)
          AND index > $3 ORDER BY index LIMIT $4`,
      [dataset.id, split, after, BATCH_ROWS],
    );
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1].index;
  }
}

/** Prompts of an SFT dataset's rows, those of each page that a pass's `keep` picks (all by default). */
function sftPrompts(
  db: DataSource,
  dataset: DatasetEntity,
  split: string | null,
  pass: () => (page: DatasetRowPage) => DatasetRowPage = () => (page) => page,
): Prompts {
  return {
    template: 'plain',
    field: 'datasetId',
    name: (index) => `row ${index} of dataset ${quote(dataset.name)}`,
    batches: async function* () {
      const keep = pass();
      for await (const page of rowPages(db, dataset, split)) {
        const rows = keep(page);
        yield { indices: rows.map((r) => r.index), rows: rows.map((r) => splitRow(r.data).prompt) };
      }
    },
  };
}

/** The prompts of an SFT dataset (one split, or all rows), as evaluations prompt with them. */
export function datasetPrompts(db: DataSource, dataset: DatasetEntity, split: string | null): Prompts {
  return sftPrompts(db, dataset, split);
}

/**
 * The prompts of the validation rows a training job on an SFT dataset evaluates with evalMetricsAtEpochEnd
 * (validation.ts `splitRows`): its validation split, and the seeded `ratio` of its training rows held out.
 */
export function trainingValidationPrompts(
  db: DataSource,
  dataset: DatasetEntity,
  ratio: number,
  seed: number,
): Prompts {
  const heldOut = new Set(splitTrainValidation(dataset.trainRowCount, ratio, seed).validation);
  return sftPrompts(db, dataset, null, () => {
    // Training rows by position among them, in index order (as the worker reads them).
    let trainRow = 0;
    return (page) =>
      page.filter(
        (r) =>
          r.split === DatasetSplit.VALIDATION || (r.split === DatasetSplit.TRAIN && heldOut.has(trainRow++)),
      );
  });
}

/** One prompt, as a generation sends it. */
export function singlePrompt(prompt: string, chatTemplate: boolean): Prompts {
  return {
    template: chatTemplate ? 'chat' : 'plain',
    field: 'prompt',
    name: () => 'the prompt',
    batches: async function* () {
      yield { indices: [0], rows: [{ prompt }] };
    },
  };
}

/** A prompt-tuning checkpoint's virtual tokens (they come before the prompt); 0 for every other model. */
async function virtualTokens(db: DataSource, runs: GeneratingModel): Promise<number> {
  if (runs.modelKind !== EvaluatedModelKind.PROMPT_TUNING || !runs.trainingJobId) return 0;
  const job = await db.getRepository(TrainingJobEntity).findOneByOrFail({ id: runs.trainingJobId });
  return Number(job.hyperparameters.numVirtualTokens ?? 0);
}

/** The tokenizer thread failed: the model folder's tokenizer cannot be read or loaded, or took too much memory. */
class TokenizerFailure extends Error {}

let threads = 0;
const waiting: (() => void)[] = [];

async function withThread<T>(work: () => Promise<T>): Promise<T> {
  if (threads < MAX_THREADS) threads++;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else threads--;
  }
}

/** The folder's tokenizer files are regular files of a bounded size (no device, FIFO or endless file). */
async function checkTokenizerFiles(modelDir: string): Promise<void> {
  for (const name of ['config.json', ...TOKENIZER_FILES]) {
    const s = await stat(path.join(modelDir, name)).catch(() => null);
    if (s && (!s.isFile() || s.size > MAX_TOKENIZER_FILE_BYTES))
      throw new TokenizerFailure(
        `${name} is not a regular file of at most ${MAX_TOKENIZER_FILE_BYTES / 2 ** 20} MiB`,
      );
  }
}

/**
 * The longest prompt (its tokens and index), how many prompts there are (`count`) and how many do not leave room
 * within `room` tokens, and the longest that does (`fitting`).
 */
async function measure(
  modelDir: string,
  prompts: Prompts,
  room: number,
): Promise<{ tokens: number; index: number; count: number; tooLong: number; fitting: number }> {
  await checkTokenizerFiles(modelDir);
  const { file, execArgv } = runnableModule(path.join(__dirname, 'prompt-lengths-thread'));
  const worker = new Worker(file, {
    execArgv,
    workerData: { modelDir, template: prompts.template },
    resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
  });
  // A thread that fails before it is asked (a tokenizer that cannot be loaded) is asked nothing more.
  let failure: Error | null = null;
  worker.on('error', (err) => (failure = err));
  const lengthsOf = async (rows: PromptOnlyRow[]): Promise<number[]> => {
    try {
      if (failure) throw failure;
      worker.postMessage(rows);
      return ((await once(worker, 'message')) as [number[]])[0];
    } catch (err) {
      throw new TokenizerFailure((err as Error).message);
    }
  };
  try {
    const longest = { tokens: 0, index: 0, count: 0, tooLong: 0, fitting: 0 };
    for await (const { indices, rows } of prompts.batches()) {
      const lengths = await lengthsOf(rows);
      longest.count += lengths.length;
      lengths.forEach((tokens, i) => {
        if (!leavesRoom(tokens, room)) longest.tooLong++;
        else longest.fitting = Math.max(longest.fitting, tokens);
        if (tokens > longest.tokens) Object.assign(longest, { tokens, index: indices[i] });
      });
    }
    return longest;
  } finally {
    await worker.terminate();
  }
}

/**
 * The longest of `prompts` (in tokens, encoded as the worker will) that leave room to generate within `room` tokens
 * and how many do, those that do not being skipped (as a training's evaluation skips them); null where the model's
 * tokenizer cannot encode them.
 */
export async function fittingPrompts(
  modelDir: string,
  prompts: Prompts,
  room: number,
): Promise<PromptsExtent | null> {
  try {
    const m = await withThread(() => measure(modelDir, prompts, room));
    return { longestTokens: m.fitting, count: m.count - m.tooLong };
  } catch (err) {
    if (err instanceof TokenizerFailure) return null;
    throw err;
  }
}

/**
 * Throws BAD_USER_INPUT unless every prompt leaves room for maxNewTokens within the model's positions; gives the
 * longest prompt's tokens and the virtual tokens before it (for the memory estimate).
 */
export async function checkPromptsFit(
  db: DataSource,
  runs: GeneratingModel,
  maxPositions: number,
  maxNewTokens: number,
  prompts: Prompts,
): Promise<{ longestTokens: number; virtualTokens: number }> {
  const virtual = await virtualTokens(db, runs);
  const withVirtual = virtual ? ` and the checkpoint's ${virtual} virtual tokens` : '';
  const room = promptRoom(maxPositions, virtual, maxNewTokens);
  if (room <= 0) {
    throw badInput(
      `maxNewTokens ${maxNewTokens}${withVirtual} leave no room for a prompt within the model's ${maxPositions} positions`,
      at('maxNewTokens'),
    );
  }
  let longest;
  try {
    longest = await withThread(() => measure(runs.modelPath, prompts, room));
  } catch (err) {
    if (!(err instanceof TokenizerFailure)) throw err;
    throw badInput(
      `the model's tokenizer cannot encode the prompts: ${quote(err.message, REASON_CHARS)}`,
      at('baseModelId'),
    );
  }
  if (leavesRoom(longest.tokens, room)) return { longestTokens: longest.tokens, virtualTokens: virtual };
  // The most new tokens that still leave the longest prompt room (`leavesRoom` wants it shorter than the room).
  const most = maxNewTokens - (longest.tokens - room + 1);
  const others = longest.tooLong > 1 ? ` (${longest.tooLong - 1} more prompts are too long too)` : '';
  throw badInput(
    `${prompts.name(longest.index)} has ${longest.tokens} tokens${others}; with maxNewTokens ${maxNewTokens}` +
      `${withVirtual}, a prompt must have fewer than ${room} tokens within the model's ${maxPositions} ` +
      `positions; ${most >= 1 ? `maxNewTokens ${most} at most fits it` : 'no maxNewTokens fits it'}`,
    at(most >= 1 ? 'maxNewTokens' : prompts.field),
  );
}
