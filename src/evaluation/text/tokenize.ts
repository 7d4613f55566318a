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

export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  const stopwords = stopwordSet(options.stopwords ?? 'default');
  return segment(normalize(text), options.segmenter ?? 'jieba').filter(
    (token) => !NO_CONTENT.test(token) && !stopwords.has(token),
  );
}
