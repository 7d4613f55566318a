/**
 * Text of a growing token sequence, handed out as it becomes final: the incremental detokenization of
 * text-generation-inference. Each new piece is decoded together with a few tokens before it (so SentencePiece's
 * leading spaces and byte-level merges come out as in a full decode), and held back while it ends in an incomplete
 * UTF-8 character (U+FFFD). Each call decodes only the tokens since the last piece, so a long answer streams in
 * linear time. The pieces joined are the decode of the whole sequence, up to a tail still held back.
 */
export class TextStream {
  /** Start of the context decoded with the new tokens. */
  private prefixOffset = 0;
  /** Tokens up to here are in the text handed out. */
  private readOffset = 0;

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /** The text that `ids` (the whole sequence so far) adds to what was handed out; '' while it is incomplete. */
  push(ids: readonly number[]): string {
    const text = (from: number, to: number) => (from < to ? this.decode(ids.slice(from, to)) : '');
    const before = text(this.prefixOffset, this.readOffset);
    const after = text(this.prefixOffset, ids.length);
    if (after.length <= before.length || after.endsWith('\uFFFD')) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = ids.length;
    return after.slice(before.length);
  }
}
