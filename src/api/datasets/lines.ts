/**
 * JSONL lines from a stream of bytes (an upload, a server-side file) without holding more than one line: lines
 * are split on `\n` (a `\r` before it is dropped), decoded as strict UTF-8, and each is capped in length.
 */
import { UserInputError } from '../../errors';

export interface JsonlLine {
  /** 1-based line number. */
  number: number;
  text: string;
}

/** Longest line accepted: one training example; real ones are kilobytes. */
export const MAX_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

function decode(bytes: Buffer, number: number): string {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: number !== 1 }).decode(bytes.subarray(0, end));
  } catch {
    throw new UserInputError(`line ${number}: not valid UTF-8`, ['line', String(number)]);
  }
}

function tooLong(number: number): UserInputError {
  return new UserInputError(`line ${number} is longer than ${MAX_LINE_BYTES} bytes`, [
    'line',
    String(number),
  ]);
}

export async function* jsonlLines(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<JsonlLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 1;
  for await (const raw of chunks) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      if (pendingBytes + nl - start > MAX_LINE_BYTES) throw tooLong(number);
      const line = pending.length
        ? Buffer.concat([...pending, chunk.subarray(start, nl)])
        : chunk.subarray(start, nl);
      yield { number, text: decode(line, number) };
      number++;
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start;
      if (pendingBytes > MAX_LINE_BYTES) throw tooLong(number);
      pending.push(chunk.subarray(start));
    }
  }
  if (pendingBytes > 0) yield { number, text: decode(Buffer.concat(pending), number) };
}

/** The lines of a JSONL text already in memory. */
export function* textLines(text: string): Generator<JsonlLine> {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) throw tooLong(i + 1);
    yield { number: i + 1, text: line.endsWith('\r') ? line.slice(0, -1) : line };
  }
}
