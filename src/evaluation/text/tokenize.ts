/**
 * Text to metric tokens, applied to prediction and reference alike (metrics.md section 1):
 * normalise, segment, drop tokens without content, drop stop words.
 */
import { normalize } from './normalize';
import { Segmenter, segment } from './segmenters';
import { StopwordsOption, stopwordSet } from './stopwords';

export interface TokenizeOptions {
  /** Default `jieba`. */
  segmenter?: Segmenter;
  /** Default `default` (the `stopword` package's Chinese and English lists). */
  stopwords?: StopwordsOption;
}

/** Only white space, or only punctuation and symbols (Unicode categories P* and S*). */
const NO_CONTENT = /^(?:\p{White_Space}*|[\p{P}\p{S}]+)$/u;

/**
 * Whether a token is kept by the P*, S* and white-space rule. A first character that is a CJK ideograph or an
 * ASCII letter or digit already settles it, which spares the regular expression for nearly every token.
 */
function hasContent(token: string): boolean {
  const c = token.charCodeAt(0);
  if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) return true;
  return !NO_CONTENT.test(token);
}

export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  const stopwords = stopwordSet(options.stopwords ?? 'default');
  return segment(normalize(text), options.segmenter ?? 'jieba').filter(
    (token) => hasContent(token) && !stopwords.has(token),
  );
}
