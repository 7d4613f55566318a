/**
 * One generation, as a worker's child process runs it: load the model (a base model, a full checkpoint, or a model
 * with a PEFT adapter), encode the prompt as training and evaluation do (the tokenizer's encoding, or the chat
 * template up to the assistant's turn), generate one token at a time and hand out the text as it is decoded, each
 * piece with the tokens it adds (the worker stores them before publishing it).
 *
 * A run after one that died or was preempted continues after the tokens that run handed out (`kept`): it replays
 * them through the text stream (so its pieces go on at the same positions with the same text) and generates only
 * the rest, the kept tokens part of the prompt, and its sampling continues the seed's stream after the kept tokens'
 * draws: greedy or sampled, the text is the one an uninterrupted run gives.
 */
import type { ExecutionProvider } from '../../engine/session';
import { UserInputError } from '../../errors';
import { loadEvaluatedModel } from '../../evaluation/run-evaluation';
import { decodeText, Generator } from '../../models/generate';
import { TextStream } from '../../models/text-stream';
import { checkModelGeneration } from '../../training/memory-plan';
import { promptRoom, tokenizePromptRows } from '../../data';

/** What a worker's generation run is given (plain JSON, it crosses a process boundary). */
export interface GenerationSpec {
  modelPath: string;
  adapterPath: string | null;
  prompt: string;
  chatTemplate: boolean;
  maxNewTokens: number;
  /** 0: greedy. */
  temperature: number;
  topP: number;
  seed: number;
  executionProvider: ExecutionProvider;
  /** Tokens earlier runs handed out (stored), continued after. */
  kept: number[];
}

export type FinishReason = 'END_OF_SEQUENCE' | 'MAX_NEW_TOKENS' | 'CANCELLED';

export interface GenerationResult {
  text: string;
  generatedTokens: number;
  finishReason: FinishReason;
}

export interface GenerationHooks {
  onStart(info: { promptTokens: number }): void | Promise<void>;
  /**
   * A piece of text, in order (`index` counts the pieces of earlier runs too); the pieces joined are the text so far
   * (up to an incomplete character). `ids`: the tokens it adds.
   */
  onText(piece: {
    index: number;
    text: string;
    ids: number[];
    generatedTokens: number;
  }): void | Promise<void>;
  shouldStop(): boolean;
}

export async function runGeneration(spec: GenerationSpec, hooks: GenerationHooks): Promise<GenerationResult> {
  const em = await loadEvaluatedModel(spec.modelPath, spec.adapterPath);
  const { model } = em;
  const virtual = em.adapter?.kind === 'prompt' ? em.adapter.numVirtualTokens : 0;
  const room = promptRoom(model.config.maxPositionEmbeddings, virtual, spec.maxNewTokens);
  const tokenized = tokenizePromptRows([{ prompt: spec.prompt }], model.tokenizer, {
    maxSequenceLength: Math.max(room, 1),
    template: spec.chatTemplate ? 'chat' : 'plain',
  });
  if (tokenized.examples.length === 0) {
    throw new UserInputError(
      `the prompt does not fit with maxNewTokens ${spec.maxNewTokens}: ${tokenized.skipped[0].reason}`,
      ['prompt'],
    );
  }
  const promptIds = tokenized.examples[0].promptIds;
  const run = {
    batchSize: 1,
    promptWidth: promptIds.length,
    maxNewTokens: spec.maxNewTokens,
    virtualTokens: virtual,
  };
  const { halfWeights } = checkModelGeneration(em, run, 'generation', spec.executionProvider);
  await hooks.onStart({ promptTokens: promptIds.length });
  // A NUL cannot be stored as text (PostgreSQL); evaluation answers are stored the same way.
  const decode = (ids: readonly number[]) => decodeText(model, ids).replaceAll('\u0000', '\uFFFD');
  const stream = new TextStream(decode);
  let streamed = '';
  let pieces = 0;
  /** Tokens handed out with the pieces so far. */
  let handedOut = 0;
  // The kept tokens through the stream as they came: the same pieces, so the next one has their successor's index.
  for (let n = 1; n <= spec.kept.length; n++) {
    const piece = stream.push(spec.kept.slice(0, n));
    if (piece) [streamed, pieces, handedOut] = [streamed + piece, pieces + 1, n];
  }
  const ids = spec.kept.slice(0, handedOut);
  const onText = async (piece: string) => {
    streamed += piece;
    await hooks.onText({
      index: pieces++,
      text: piece,
      ids: ids.slice(handedOut),
      generatedTokens: ids.length,
    });
    handedOut = ids.length;
  };
  const ended = () =>
    model.config.eosTokenIds.includes(ids[ids.length - 1]) || ids.length >= spec.maxNewTokens;
  if (!ended()) {
    const generator = new Generator(model, {
      adapter: em.adapter,
      executionProvider: spec.executionProvider,
      halfWeights,
    });
    try {
      await generator.generate({
        prompts: [[...promptIds, ...ids]],
        maxNewTokens: spec.maxNewTokens - ids.length,
        sampling:
          spec.temperature > 0
            ? { temperature: spec.temperature, topP: spec.topP, seed: spec.seed, drawn: ids.length }
            : undefined,
        onStep: async ([added]) => {
          ids.push(added[added.length - 1]);
          const piece = stream.push(ids);
          if (piece) await onText(piece);
        },
        shouldStop: hooks.shouldStop,
      });
    } finally {
      await generator.release();
    }
  }
  const finishReason: FinishReason = model.config.eosTokenIds.includes(ids[ids.length - 1])
    ? 'END_OF_SEQUENCE'
    : ids.length >= spec.maxNewTokens
      ? 'MAX_NEW_TOKENS'
      : 'CANCELLED';
  // A stopped generation's text is what was handed out. A finished one's is the whole decode, and what the
  // stream held back (an incomplete character at the very end) goes out last.
  if (finishReason === 'CANCELLED') return { text: streamed, generatedTokens: ids.length, finishReason };
  const text = decode(ids);
  if (text.length > streamed.length && text.startsWith(streamed)) await onText(text.slice(streamed.length));
  return { text, generatedTokens: ids.length, finishReason };
}
