export { normalize } from './normalize';
export { SEGMENTERS, type Segmenter, isSegmenter, segment } from './segmenters';
export { type StopwordsOption, stopwordSet } from './stopwords';
export { type TokenizeOptions, tokenize } from './tokenize';
