/**
 * Dataset rows: JSONL text -> normalized rows, one kind per dataset. Parsing only checks shapes and
 * normalizes the accepted spellings; tokenization is separate (see ./examples.ts), so the API can import
 * and store a dataset without loading a tokenizer.
 *
 * Accepted lines (blank lines are skipped; extra keys are ignored):
 * - SFT:
 *   - `{"prompt": str, "response": str}`
 *   - the cloud platform's form: the whole line is an array `[{"prompt": str, "response": [[str, ...], ...]}, ...]`;
 *     each object is one turn and the first answer of its `response` is the reply. One turn gives
 *     `{prompt, response}`; several give a conversation (`{messages}`) whose last reply is the target.
 *   - alpaca `{"instruction": str, "input"?: str, "output": str}`: prompt = instruction, then "\n" and the input
 *     when there is one (as LLaMA-Factory joins them).
 *   - chat `{"messages": [{"role", "content"}, ...]}` ending with an assistant turn.
 * - PREFERENCE:
 *   - `{"prompt": str, "chosen": str, "rejected": str}`
 *   - chat: `{"messages": [...the conversation before the answer...], "chosen", "rejected"}` (or the same
 *     conversation under `"prompt"`, TRL's spelling), where chosen/rejected are a string, one assistant message,
 *     or a list holding one assistant message.
 *   - the platform's form `[{"prompt": str, "response": [[better], [worse], ...]}]`: the first answer is chosen,
 *     the second rejected.
 * - PROMPT_ONLY: `{"prompt": str}`, `{"messages": [...]}` (a conversation to be continued by the assistant), or the
 *   platform's `[{"prompt": str}]`.
 */
import { quote, UserInputError } from '../errors';
import type { ChatMessage } from '../models/tokenizer';
import { DATASET_KINDS, type DatasetKindName } from '../vocabulary';

export type DatasetKind = DatasetKindName;
export { DATASET_KINDS };

export type { ChatMessage };

/** SFT: plain text pair, or a conversation whose last message (an assistant turn) is the target. */
export type SftRow = { prompt: string; response: string } | { messages: ChatMessage[] };
/** PREFERENCE: the prompt as text or as the conversation before the answer. */
export type PreferenceRow =
  | { prompt: string; chosen: string; rejected: string }
  | { messages: ChatMessage[]; chosen: string; rejected: string };
/** PROMPT_ONLY: text, or a conversation for the assistant to continue. */
export type PromptOnlyRow = { prompt: string } | { messages: ChatMessage[] };
export type DatasetRow = SftRow | PreferenceRow | PromptOnlyRow;

/** A shape error inside one row; `field` is a dotted location within the row, e.g. `messages.2.content`. */
class RowError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(row: Json, key: string, at = key): string {
  const v = row[key];
  if (typeof v !== 'string') throw new RowError(`"${at}" must be a string, got ${describe(v)}`, at);
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${typeof v === 'string' ? quote(v) : String(v)}`;
}

function messages(v: unknown, at: string): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new RowError(`"${at}" must be a non-empty array of messages`, at);
  return v.map((m, i) => {
    if (!isObject(m)) throw new RowError(`"${at}.${i}" must be an object {"role", "content"}`, `${at}.${i}`);
    return { role: text(m, 'role', `${at}.${i}.role`), content: text(m, 'content', `${at}.${i}.content`) };
  });
}

function lastRoleMustBe(
  msgs: ChatMessage[],
  wanted: (role: string) => boolean,
  what: string,
  at: string,
): void {
  const last = msgs[msgs.length - 1];
  if (!wanted(last.role)) {
    throw new RowError(`"${at}" must end with ${what}, but its last message has role "${last.role}"`, at);
  }
}

/** A preference answer: a string, one assistant message, or a list holding one assistant message. */
function answer(row: Json, key: 'chosen' | 'rejected'): string {
  const v = row[key];
  if (typeof v === 'string') return v;
  const single = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (isObject(single)) return messages([single], key)[0].content;
  throw new RowError(`"${key}" must be a string or one assistant message, got ${describe(v)}`, key);
}

/** The platform's `response`: a list of answers, each a list of strings; the first string is the answer. */
function platformAnswers(turn: Json, at: string): string[] {
  const r = turn.response;
  if (!Array.isArray(r) || r.length === 0) {
    throw new RowError(
      `"${at}.response" must be a non-empty list of answers like [["text"]]`,
      `${at}.response`,
    );
  }
  return r.map((a, i) => {
    if (!Array.isArray(a) || typeof a[0] !== 'string') {
      throw new RowError(
        `"${at}.response.${i}" must be a list of strings like ["text"]`,
        `${at}.response.${i}`,
      );
    }
    return a[0];
  });
}

function platformTurns(line: unknown[]): Json[] {
  if (line.length === 0) throw new RowError('the array holds no turns', '');
  return line.map((t, i) => {
    if (!isObject(t)) throw new RowError(`item ${i} must be an object {"prompt", "response"}`, String(i));
    text(t, 'prompt', `${i}.prompt`);
    return t;
  });
}

function sftRow(line: unknown): SftRow {
  if (Array.isArray(line)) {
    const turns = platformTurns(line);
    const replies = turns.map((t, i) => platformAnswers(t, String(i))[0]);
    if (turns.length === 1) return { prompt: turns[0].prompt as string, response: replies[0] };
    return {
      messages: turns.flatMap((t, i) => [
        { role: 'user', content: t.prompt as string },
        { role: 'assistant', content: replies[i] },
      ]),
    };
  }
  if (!isObject(line)) throw new RowError(`a row must be a JSON object or array, got ${describe(line)}`, '');
  if ('messages' in line) {
    const msgs = messages(line.messages, 'messages');
    lastRoleMustBe(msgs, (r) => r === 'assistant', 'an assistant message (the target)', 'messages');
    if (msgs.length < 2)
      throw new RowError('"messages" needs at least one message before the answer', 'messages');
    return { messages: msgs };
  }
  if ('instruction' in line) {
    const input = line.input === undefined || line.input === null ? '' : text(line, 'input');
    const instruction = text(line, 'instruction');
    return { prompt: input ? `${instruction}\n${input}` : instruction, response: text(line, 'output') };
  }
  if ('prompt' in line || 'response' in line)
    return { prompt: text(line, 'prompt'), response: text(line, 'response') };
  throw new RowError(
    'an SFT row needs {"prompt","response"}, {"instruction","output"}, {"messages"} or the platform\'s ' +
      '[{"prompt","response"}] form',
    '',
  );
}

function preferenceRow(line: unknown): PreferenceRow {
  if (Array.isArray(line)) {
    const turns = platformTurns(line);
    if (turns.length !== 1)
      throw new RowError('a preference row in array form must hold exactly one turn', '');
    const answers = platformAnswers(turns[0], '0');
    if (answers.length < 2) {
      throw new RowError('"0.response" must rank at least two answers: [[better], [worse]]', '0.response');
    }
    return { prompt: turns[0].prompt as string, chosen: answers[0], rejected: answers[1] };
  }
  if (!isObject(line)) throw new RowError(`a row must be a JSON object or array, got ${describe(line)}`, '');
  const conversationKey = 'messages' in line ? 'messages' : Array.isArray(line.prompt) ? 'prompt' : null;
  if (conversationKey) {
    const msgs = messages(line[conversationKey], conversationKey);
    lastRoleMustBe(
      msgs,
      (r) => r !== 'assistant',
      'a non-assistant message (the answer is chosen/rejected)',
      conversationKey,
    );
    return { messages: msgs, chosen: answer(line, 'chosen'), rejected: answer(line, 'rejected') };
  }
  return { prompt: text(line, 'prompt'), chosen: answer(line, 'chosen'), rejected: answer(line, 'rejected') };
}

function promptOnlyRow(line: unknown): PromptOnlyRow {
  if (Array.isArray(line)) {
    const turns = platformTurns(line);
    if (turns.length !== 1) throw new RowError('a prompt row in array form must hold exactly one turn', '');
    return { prompt: turns[0].prompt as string };
  }
  if (!isObject(line)) throw new RowError(`a row must be a JSON object or array, got ${describe(line)}`, '');
  if ('messages' in line) {
    const msgs = messages(line.messages, 'messages');
    lastRoleMustBe(msgs, (r) => r !== 'assistant', 'a non-assistant message', 'messages');
    return { messages: msgs };
  }
  return { prompt: text(line, 'prompt') };
}

const ROW_PARSERS: Record<DatasetKind, (line: unknown) => DatasetRow> = {
  SFT: sftRow,
  PREFERENCE: preferenceRow,
  PROMPT_ONLY: promptOnlyRow,
};

/**
 * Parse one JSONL line (1-based `lineNo`) into a normalized row of `kind`, or null for a blank line. A bad line
 * throws a UserInputError naming its line (path ['line', n, ...field]); messages quote no more than a short prefix
 * of the line, so a file's contents do not travel back in errors.
 */
export function parseDatasetLine(raw: string, lineNo: number, kind: DatasetKind): DatasetRow | null {
  const parse = ROW_PARSERS[kind];
  if (!parse) {
    throw new UserInputError(
      `unknown dataset kind ${JSON.stringify(kind)} (known: ${DATASET_KINDS.join(', ')})`,
      ['kind'],
    );
  }
  if (raw.trim() === '') return null;
  const at = String(lineNo);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    const position = /at position (\d+)/.exec((err as Error).message);
    const where = position ? ` (at character ${Number(position[1]) + 1})` : '';
    throw new UserInputError(`line ${at}: not valid JSON${where}`, ['line', at]);
  }
  try {
    return parse(value);
  } catch (err) {
    if (!(err instanceof RowError)) throw err;
    const field = err.field ? err.field.split('.') : [];
    throw new UserInputError(`line ${at}: ${err.message} (${kind} dataset)`, ['line', at, ...field]);
  }
}

/** Parse a whole JSONL text into normalized rows of `kind`; the first bad line throws (see parseDatasetLine). */
export function parseDatasetJsonl(text: string, kind: DatasetKind): DatasetRow[] {
  const rows: DatasetRow[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const row = parseDatasetLine(raw, i + 1, kind);
      if (row) rows.push(row);
    });
  return rows;
}
