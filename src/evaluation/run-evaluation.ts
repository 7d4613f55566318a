/**
 * Evaluating a model on SFT rows: generate an answer to every prompt, score it against the row's reference
 * response (metrics.md), and hand the scored samples out batch by batch. The model is a base model, a full
 * checkpoint (itself a model folder), or a model plus a PEFT adapter (LoRA or prompt tuning).
 *
 * Prompts are encoded as the trainer encodes them (plain rows: the tokenizer's encoding of the prompt; conversation
 * rows: the chat template up to the assistant's turn), so a fine-tuned model is asked exactly what it learnt.
 * Items are generated in order of prompt length, so a batch holds prompts of similar length; each batch is
 * left-padded to a bucketed width and topped up to the batch size, so few graph shapes are ever compiled, and the
 * sessions of a width are released once the run moves past it.
 */
import { ExecutionProvider } from '../engine/session';
import { UserInputError } from '../errors';
import { Generator, decodeText } from '../models/generate';
import { batchWidth } from '../models/generation-shape';
import { LoadedModel, ResolvedAdapter, loadAdapter, loadModel } from '../models/model';
import type { TextTokenizer } from '../models/tokenizer';
import { PromptOnlyRow, SftRow, parseDatasetJsonl, promptRoom, tokenizePromptRows } from '../data';
import { type PromptsExtent, checkModelGeneration } from '../training/memory-plan';
import { EVALUATION_DATASET_KIND } from '../vocabulary';
import { SampleScores, TokenizeOptions, scoreSample } from './metrics';

/** One prompt to answer and the reference the answer is scored against. */
export interface EvaluationItem {
  /** Index of the row in the caller's numbering (a dataset row index). */
  index: number;
  /** The prompt as the model sees it (the rendered chat template for conversation rows). */
  prompt: string;
  promptIds: number[];
  reference: string;
}

export interface ScoredSample {
  index: number;
  prompt: string;
  reference: string;
  prediction: string;
  scores: SampleScores;
}

export interface GenerationSettings {
  maxNewTokens: number;
  /** 0: greedy; above 0: sampling with this temperature and `topP`. */
  temperature: number;
  topP: number;
  /** Seed of the sampling (unused when greedy). */
  seed: number;
  /** Prompts generated together. */
  batchSize: number;
}

/** The model a run evaluates. */
export interface EvaluatedModel {
  model: LoadedModel;
  adapter?: ResolvedAdapter;
}

/** The row's prompt as a prompt-only row, and its reference answer (a conversation's last message). */
export function splitRow(row: SftRow): { prompt: PromptOnlyRow; reference: string } {
  if ('messages' in row) {
    return {
      prompt: { messages: row.messages.slice(0, -1) },
      reference: row.messages[row.messages.length - 1].content,
    };
  }
  return { prompt: { prompt: row.prompt }, reference: row.response };
}

/** Prompts encoded as an evaluation encodes them; those leaving no room to generate within `room` are skipped. */
export function evaluationPrompts(prompts: readonly PromptOnlyRow[], tok: TextTokenizer, room: number) {
  return tokenizePromptRows(prompts, tok, { maxSequenceLength: Math.max(room, 1) });
}

/**
 * The longest of `rows`' prompts an evaluation generates for (in tokens, `evaluationPrompts`) within what a model of
 * `maxPositions` leaves beside `virtualTokens` and `maxNewTokens`, and how many it generates for; 0 where none.
 */
export function measureEvaluationPrompts(
  rows: readonly SftRow[],
  tok: TextTokenizer,
  room: { maxPositions: number; virtualTokens: number; maxNewTokens: number },
): PromptsExtent {
  const within = promptRoom(room.maxPositions, room.virtualTokens, room.maxNewTokens);
  const { examples } = evaluationPrompts(
    rows.map((r) => splitRow(r).prompt),
    tok,
    within,
  );
  const longestTokens = examples.reduce((m, e) => Math.max(m, e.promptIds.length), 0);
  return { longestTokens, count: examples.length };
}

/**
 * Items for `rows` (numbered by `indices`, default 0..n-1). A row whose prompt leaves no room for `maxNewTokens`
 * within the model's context is left out and reported.
 */
export function evaluationItems(
  rows: readonly SftRow[],
  em: EvaluatedModel,
  maxNewTokens: number,
  indices: readonly number[] = rows.map((_, i) => i),
): { items: EvaluationItem[]; skipped: { index: number; reason: string }[] } {
  const tok = em.model.tokenizer;
  const virtual = em.adapter?.kind === 'prompt' ? em.adapter.numVirtualTokens : 0;
  const room = promptRoom(em.model.config.maxPositionEmbeddings, virtual, maxNewTokens);
  const parts = rows.map(splitRow);
  const prompts = parts.map((p) => p.prompt);
  const tokenized = evaluationPrompts(prompts, tok, room);
  const items = tokenized.examples.map((e, k) => {
    const row = tokenized.rowIndex[k];
    const p = prompts[row];
    return {
      index: indices[row],
      prompt: 'prompt' in p ? p.prompt : tok.applyChatTemplate(p.messages, { addGenerationPrompt: true }),
      promptIds: e.promptIds,
      reference: parts[row].reference,
    };
  });
  return { items, skipped: tokenized.skipped.map((s) => ({ index: indices[s.row], reason: s.reason })) };
}

export interface GenerateAndScoreOptions {
  generation: GenerationSettings;
  scoring: TokenizeOptions;
  /** Called after each batch with its samples (in the batch's order). */
  onBatch?(samples: ScoredSample[]): void | Promise<void>;
  /** Checked between batches. */
  shouldStop?(): boolean;
}

/** Generate and score every item; returns the samples in index order and whether a stop request ended it early. */
export async function generateAndScore(
  generator: Generator,
  items: readonly EvaluationItem[],
  o: GenerateAndScoreOptions,
): Promise<{ samples: ScoredSample[]; stopped: boolean }> {
  const { model } = generator;
  const g = o.generation;
  const pad = model.tokenizer.padTokenId ?? 0;
  const virtual = generator.opts.adapter?.kind === 'prompt' ? generator.opts.adapter.numVirtualTokens : 0;
  const order = [...items].sort((a, b) => a.promptIds.length - b.promptIds.length || a.index - b.index);
  const rows = Math.min(g.batchSize, order.length);
  const samples: ScoredSample[] = [];
  let width = 0;
  for (let start = 0; start < order.length; start += rows) {
    if (o.shouldStop?.()) return { samples, stopped: true };
    const batch = order.slice(start, start + rows);
    const longest = batch[batch.length - 1].promptIds.length;
    const w = batchWidth(longest, model.config.maxPositionEmbeddings, virtual, g.maxNewTokens);
    // Sorted by length, a run never needs a narrower width again: free the sessions (and weights) of the last one.
    if (w !== width && width !== 0) await generator.release();
    width = w;
    // Top the last batch up with copies of its last row so its shape is the one already compiled.
    const filled = [...batch, ...Array<EvaluationItem>(rows - batch.length).fill(batch[batch.length - 1])];
    const result = await generator.generate({
      prompts: filled.map((it) => [...Array<number>(w - it.promptIds.length).fill(pad), ...it.promptIds]),
      attentionMask: filled.map((it) => [
        ...Array<number>(w - it.promptIds.length).fill(0),
        ...Array<number>(it.promptIds.length).fill(1),
      ]),
      maxNewTokens: g.maxNewTokens,
      sampling:
        g.temperature > 0
          ? { temperature: g.temperature, topP: g.topP, seed: (g.seed + batch[0].index) >>> 0 }
          : undefined,
    });
    const scored = batch.map((it, b) => {
      // A NUL cannot be stored as text (PostgreSQL) and means nothing in an answer; it is scored as stored.
      const prediction = decodeText(model, result.generated[b]).replaceAll('\u0000', '\uFFFD');
      return {
        index: it.index,
        prompt: it.prompt,
        reference: it.reference,
        prediction,
        scores: scoreSample(prediction, it.reference, o.scoring),
      };
    });
    samples.push(...scored);
    await o.onBatch?.(scored);
  }
  return { samples: samples.sort((a, b) => a.index - b.index), stopped: false };
}

/** What a worker's evaluation run is given (plain JSON, it crosses a process boundary). */
export interface EvaluationRunSpec {
  /** A base model folder or a full checkpoint folder. */
  modelPath: string;
  /** A PEFT adapter folder applied on `modelPath`. */
  adapterPath: string | null;
  /** SFT rows (as stored: normalized dataset rows) and their dataset row indices. */
  rows: readonly unknown[];
  indices: readonly number[];
  generation: GenerationSettings;
  scoring: TokenizeOptions;
  executionProvider: ExecutionProvider;
  threads?: number;
}

export interface EvaluationRunHooks {
  /** Before the first batch: how many of the given rows will be scored, and the rows left out. */
  onStart?(info: { total: number; skipped: { index: number; reason: string }[] }): void | Promise<void>;
  onBatch(samples: ScoredSample[]): void | Promise<void>;
  shouldStop(): boolean;
}

export async function loadEvaluatedModel(
  modelPath: string,
  adapterPath: string | null,
): Promise<EvaluatedModel> {
  const model = await loadModel(modelPath);
  return adapterPath ? { model, adapter: loadAdapter(adapterPath, model) } : { model };
}

/** Rows checked as SFT rows; a bad one is named by its position in `rows`. */
function sftRows(rows: readonly unknown[]): SftRow[] {
  const jsonl = rows.map((r) => JSON.stringify(r)).join('\n');
  return parseDatasetJsonl(jsonl, EVALUATION_DATASET_KIND) as SftRow[];
}

/** One evaluation run: load, build the items, generate and score them batch by batch. */
export async function runEvaluation(
  spec: EvaluationRunSpec,
  hooks: EvaluationRunHooks,
): Promise<{ stopped: boolean; scored: number }> {
  if (spec.rows.length !== spec.indices.length)
    throw new Error('runEvaluation: rows and indices differ in length');
  const em = await loadEvaluatedModel(spec.modelPath, spec.adapterPath);
  const { items, skipped } = evaluationItems(
    sftRows(spec.rows),
    em,
    spec.generation.maxNewTokens,
    spec.indices,
  );
  if (items.length === 0 && skipped.length > 0) {
    throw new UserInputError(`no row can be evaluated: row ${skipped[0].index} ${skipped[0].reason}`, [
      'maxNewTokens',
    ]);
  }
  // The widest batch (items go by prompt length) must fit the memory budget, or the job fails before any work.
  const virtual = em.adapter?.kind === 'prompt' ? em.adapter.numVirtualTokens : 0;
  const { maxNewTokens, batchSize } = spec.generation;
  const longest = Math.max(0, ...items.map((it) => it.promptIds.length));
  const { halfWeights } = checkModelGeneration(
    em,
    {
      batchSize: Math.min(batchSize, items.length),
      promptWidth: batchWidth(longest, em.model.config.maxPositionEmbeddings, virtual, maxNewTokens),
      maxNewTokens,
      virtualTokens: virtual,
    },
    'evaluation',
    spec.executionProvider,
  );
  await hooks.onStart?.({ total: items.length, skipped });
  const generator = new Generator(em.model, {
    adapter: em.adapter,
    executionProvider: spec.executionProvider,
    threads: spec.threads,
    halfWeights,
  });
  try {
    const { samples, stopped } = await generateAndScore(generator, items, {
      generation: spec.generation,
      scoring: spec.scoring,
      onBatch: hooks.onBatch,
      shouldStop: hooks.shouldStop,
    });
    return { stopped, scored: samples.length };
  } finally {
    await generator.release();
  }
}
