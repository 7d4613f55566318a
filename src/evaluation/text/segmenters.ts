/**
 * Word segmentation, the second step of the metrics text pipeline (metrics.md section 1.2).
 */
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict';
import { type EngineName, SEGMENTER_NAMES, type SegmenterName, engineName } from '../../vocabulary';

/** The vocabulary's segmenters as configs and the CLI spell them ('jieba'). */
export type Segmenter = EngineName<SegmenterName>;
export const SEGMENTERS: readonly Segmenter[] = SEGMENTER_NAMES.map(engineName);

export function isSegmenter(name: string): name is Segmenter {
  return (SEGMENTERS as readonly string[]).includes(name);
}

let jieba: Jieba | undefined;

/** Loading the default dictionary takes a noticeable fraction of a second, so it happens once, on first use. */
function jiebaInstance(): Jieba {
  jieba ??= Jieba.withDict(dict);
  return jieba;
}

const WHITE_SPACE_RUN = /\p{White_Space}+/u;
const WHITE_SPACE_CHAR = /^\p{White_Space}$/u;

/**
 * Splits already normalised text into tokens. `jieba` is precise mode with the HMM for unknown words and
 * may return white-space and punctuation tokens (the pipeline drops them); `whitespace` splits on Unicode
 * White_Space; `char` yields every code point that is not white space.
 */
export function segment(text: string, segmenter: Segmenter): string[] {
  switch (segmenter) {
    case 'jieba':
      return text.length === 0 ? [] : jiebaInstance().cut(text, true);
    case 'whitespace':
      return text.split(WHITE_SPACE_RUN).filter((token) => token.length > 0);
    case 'char':
      return Array.from(text).filter((c) => !WHITE_SPACE_CHAR.test(c));
  }
}
