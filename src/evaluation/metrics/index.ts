export { type PRF, type SampleScores, type SetScores } from './scores';
export { aggregate, scoreSample, scoreTokens } from './score';
export { bleu4, brevityPenalty } from './bleu';
export { lcsLength } from './lcs';
export { tokenize, type TokenizeOptions } from '../text';
