/**
 * Dataset rows -> token-id examples.
 *
 * Templates:
 * - `plain` (text rows): the prompt is the tokenizer's single-text encoding (special tokens included, e.g. `<s>`),
 *   the response is encoded without special tokens, then the end-of-sequence id follows. Preference answers are
 *   encoded together with their prompt as one text (`<s>` + prompt + answer), then EOS, and the prompt length is
 *   that of the prompt's own encoding, as the fixtures' generator does.
 * - `chat`: text rows become a user turn and an assistant turn rendered with the tokenizer's chat template.
 * Conversation rows (`messages`) always go through the chat template, whatever the template: the prompt is the
 * conversation before the answer rendered with the generation prompt, the response is the rest of the full
 * rendering. Rendered text is encoded without special tokens (the template places them, as transformers'
 * apply_chat_template does), and EOS is appended unless the rendering already ends with it.
 *
 * Truncation keeps the start of a sequence and cuts its end (right side) at `maxSequenceLength`. A row whose prompt
 * leaves no room for one response token (or a prompt-only row with no room to generate) is skipped and reported.
 */
import { UserInputError } from '../errors';
import type { ChatMessage, TextTokenizer } from '../models/tokenizer';
import type { PreferenceRow, PromptOnlyRow, SftRow } from './rows';

export type PromptTemplate = 'plain' | 'chat';
export const PROMPT_TEMPLATES: readonly PromptTemplate[] = ['plain', 'chat'];

/** Loss targets are -100 where no loss is taken (prompt, padding), as in PyTorch's cross_entropy ignore_index. */
export const IGNORE_INDEX = -100;

export interface TokenizeOptions {
  maxSequenceLength: number;
  template?: PromptTemplate;
}

export interface SftExample {
  inputIds: number[];
  /** IGNORE_INDEX on the prompt; the response ids (and EOS) elsewhere. Same length as inputIds. */
  labels: number[];
}

export interface PreferenceExample {
  /** Tokens of the prompt at the start of both sequences (BOS included). */
  promptLength: number;
  chosenIds: number[];
  rejectedIds: number[];
}

export interface PromptExample {
  promptIds: number[];
}

export interface Tokenized<E> {
  examples: E[];
  /** Index of each example's row in the input. */
  rowIndex: number[];
  /** Rows left out, with why. */
  skipped: { row: number; reason: string }[];
  /** Examples cut at maxSequenceLength. */
  truncated: number;
}

function eosOf(tok: TextTokenizer): number {
  if (tok.eosTokenId === null) {
    throw new UserInputError(
      `${tok.folder}: the tokenizer has no end-of-sequence token (eos_token in tokenizer_config.json, or ` +
        'eos_token_id in config.json)',
      [tok.folder],
      'BAD_TOKENIZER',
    );
  }
  return tok.eosTokenId;
}

const withEos = (ids: number[], eos: number) => (ids[ids.length - 1] === eos ? ids : [...ids, eos]);

/** A text pair as the conversation the chat template renders. */
const asConversation = (prompt: string, answer: string): ChatMessage[] => [
  { role: 'user', content: prompt },
  { role: 'assistant', content: answer },
];

/**
 * The chat template's rendering of `context` with the generation prompt, and of `context` + the assistant's
 * `answer` after it; the answer's text is what the full rendering adds.
 */
function renderTurn(
  tok: TextTokenizer,
  context: ChatMessage[],
  answer: string,
): { prompt: string; answer: string } {
  const prompt = tok.applyChatTemplate(context, { addGenerationPrompt: true });
  const full = tok.applyChatTemplate([...context, { role: 'assistant', content: answer }]);
  if (!full.startsWith(prompt)) {
    throw new UserInputError(
      `the chat template of ${tok.folder} renders a conversation differently with and without its last answer, ` +
        'so the prompt cannot be separated from the response',
      [tok.folder],
      'CHAT_TEMPLATE_FAILED',
    );
  }
  return { prompt, answer: full.slice(prompt.length) };
}

function checkTemplate(template: string): PromptTemplate {
  if (!PROMPT_TEMPLATES.includes(template as PromptTemplate)) {
    throw new UserInputError(`template must be one of ${PROMPT_TEMPLATES.join(', ')}, got "${template}"`, [
      'template',
    ]);
  }
  return template as PromptTemplate;
}

/** Prompt ids and response ids (EOS included) of one SFT row. */
function sftIds(row: SftRow, tok: TextTokenizer, template: PromptTemplate, eos: number) {
  if ('messages' in row || template === 'chat') {
    const messages = 'messages' in row ? row.messages : asConversation(row.prompt, row.response);
    const turn = renderTurn(tok, messages.slice(0, -1), messages[messages.length - 1].content);
    return {
      prompt: tok.encode(turn.prompt, { addSpecialTokens: false }),
      response: withEos(tok.encode(turn.answer, { addSpecialTokens: false }), eos),
    };
  }
  return {
    prompt: tok.encode(row.prompt),
    response: [...tok.encode(row.response, { addSpecialTokens: false }), eos],
  };
}

function collect<R, E>(
  rows: readonly R[],
  toExample: (row: R) => { example: E; truncated: boolean } | { skip: string },
): Tokenized<E> {
  const out: Tokenized<E> = { examples: [], rowIndex: [], skipped: [], truncated: 0 };
  rows.forEach((row, i) => {
    const result = toExample(row);
    if ('skip' in result) {
      out.skipped.push({ row: i, reason: result.skip });
      return;
    }
    out.examples.push(result.example);
    out.rowIndex.push(i);
    if (result.truncated) out.truncated++;
  });
  return out;
}

/** A prompt leaves room for an answer within `max` tokens when it is shorter (training and generation alike). */
export const leavesRoom = (promptLength: number, max: number) => promptLength < max;

/**
 * The tokens a generation's prompt has within the model's positions: what `maxNewTokens` and a prompt-tuning
 * adapter's virtual tokens leave (a prompt must be shorter, `leavesRoom`).
 */
export const promptRoom = (maxPositions: number, virtualTokens: number, maxNewTokens: number) =>
  maxPositions - virtualTokens - maxNewTokens;

const noRoom = (promptLength: number, max: number) =>
  `its prompt has ${promptLength} tokens, leaving no room for a response within maxSequenceLength ${max}`;

export function tokenizeSftRows(
  rows: readonly SftRow[],
  tok: TextTokenizer,
  o: TokenizeOptions,
): Tokenized<SftExample> {
  const template = checkTemplate(o.template ?? 'plain');
  const eos = eosOf(tok);
  const max = o.maxSequenceLength;
  return collect<SftRow, SftExample>(rows, (row) => {
    const { prompt, response } = sftIds(row, tok, template, eos);
    if (!leavesRoom(prompt.length, max)) return { skip: noRoom(prompt.length, max) };
    const inputIds = [...prompt, ...response];
    const labels = [...prompt.map(() => IGNORE_INDEX), ...response];
    return {
      example: { inputIds: inputIds.slice(0, max), labels: labels.slice(0, max) },
      truncated: inputIds.length > max,
    };
  });
}

export function tokenizePreferenceRows(
  rows: readonly PreferenceRow[],
  tok: TextTokenizer,
  o: TokenizeOptions,
): Tokenized<PreferenceExample> {
  const template = checkTemplate(o.template ?? 'plain');
  const eos = eosOf(tok);
  const max = o.maxSequenceLength;
  return collect<PreferenceRow, PreferenceExample>(rows, (row) => {
    let promptIds: number[];
    let chosen: number[];
    let rejected: number[];
    if ('messages' in row || template === 'chat') {
      const context = 'messages' in row ? row.messages : [{ role: 'user', content: row.prompt }];
      const encode = (answer: string) => {
        const turn = renderTurn(tok, context, answer);
        return withEos(tok.encode(turn.prompt + turn.answer, { addSpecialTokens: false }), eos);
      };
      promptIds = tok.encode(tok.applyChatTemplate(context, { addGenerationPrompt: true }), {
        addSpecialTokens: false,
      });
      [chosen, rejected] = [encode(row.chosen), encode(row.rejected)];
    } else {
      promptIds = tok.encode(row.prompt);
      [chosen, rejected] = [
        [...tok.encode(row.prompt + row.chosen), eos],
        [...tok.encode(row.prompt + row.rejected), eos],
      ];
    }
    if (!leavesRoom(promptIds.length, max)) return { skip: noRoom(promptIds.length, max) };
    return {
      example: {
        promptLength: promptIds.length,
        chosenIds: chosen.slice(0, max),
        rejectedIds: rejected.slice(0, max),
      },
      truncated: chosen.length > max || rejected.length > max,
    };
  });
}

/** The ids a model is prompted with for `row`: its encoding, or the chat template up to the assistant's turn. */
export function encodePrompt(
  row: PromptOnlyRow,
  tok: TextTokenizer,
  template: PromptTemplate = 'plain',
): number[] {
  return 'messages' in row || template === 'chat'
    ? tok.encode(
        tok.applyChatTemplate('messages' in row ? row.messages : [{ role: 'user', content: row.prompt }], {
          addGenerationPrompt: true,
        }),
        { addSpecialTokens: false },
      )
    : tok.encode(row.prompt);
}

export function tokenizePromptRows(
  rows: readonly PromptOnlyRow[],
  tok: TextTokenizer,
  o: TokenizeOptions,
): Tokenized<PromptExample> {
  const template = checkTemplate(o.template ?? 'plain');
  const max = o.maxSequenceLength;
  return collect<PromptOnlyRow, PromptExample>(rows, (row) => {
    const promptIds = encodePrompt(row, tok, template);
    if (!leavesRoom(promptIds.length, max)) {
      return { skip: `its prompt has ${promptIds.length} tokens, leaving no room to generate within ${max}` };
    }
    return { example: { promptIds }, truncated: false };
  });
}
