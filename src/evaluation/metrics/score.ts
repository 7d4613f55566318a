/** Per-sample scores and their means (metrics.md sections 2 and 3). */
import { TokenizeOptions, tokenize } from '../text';
import { bleu4 } from './bleu';
import { lcsLength } from './lcs';
import { internPair, ngramCount, ngramMatches } from './ngrams';
import { PRF, SampleScores, SetScores, prf } from './scores';

function sameSequence(p: readonly string[], r: readonly string[]): boolean {
  return p.length === r.length && p.every((token, i) => token === r[i]);
}

/** Scores a prediction's tokens `p` against the reference's tokens `r`. */
export function scoreTokens(p: readonly string[], r: readonly string[]): SampleScores {
  const pair = internPair(p, r);
  const matches = ngramMatches(pair, 4);
  const lp = p.length;
  const lr = r.length;
  const bag = prf(matches[0], lp, lr);
  return {
    accuracy: sameSequence(p, r) ? 1 : 0,
    // Bag-of-tokens F1 has one case ROUGE-1 lacks: two empty sequences agree perfectly.
    f1: lp === 0 && lr === 0 ? 1 : bag.f,
    rouge1: bag,
    rouge2: prf(matches[1], ngramCount(lp, 2), ngramCount(lr, 2)),
    rougeL: prf(lcsLength(pair.ids.subarray(0, lp), pair.ids.subarray(lp)), lp, lr),
    bleu4: bleu4(matches, lp, lr),
  };
}

/** Tokenizes both texts with the same options, then scores them. */
export function scoreSample(
  prediction: string,
  reference: string,
  options: TokenizeOptions = {},
): SampleScores {
  return scoreTokens(tokenize(prediction, options), tokenize(reference, options));
}

const meanPRF = (samples: readonly SampleScores[], pick: (s: SampleScores) => PRF): PRF => ({
  precision: mean(samples, (s) => pick(s).precision),
  recall: mean(samples, (s) => pick(s).recall),
  f: mean(samples, (s) => pick(s).f),
});

function mean(samples: readonly SampleScores[], pick: (s: SampleScores) => number): number {
  let sum = 0;
  for (const s of samples) sum += pick(s);
  return sum / samples.length;
}

/** The arithmetic mean of every score. The mean of no samples is undefined, so an empty set is an error. */
export function aggregate(samples: readonly SampleScores[]): SetScores {
  if (samples.length === 0) throw new RangeError('aggregate: no samples to average');
  return {
    count: samples.length,
    accuracy: mean(samples, (s) => s.accuracy),
    f1: mean(samples, (s) => s.f1),
    rouge1: meanPRF(samples, (s) => s.rouge1),
    rouge2: meanPRF(samples, (s) => s.rouge2),
    rougeL: meanPRF(samples, (s) => s.rougeL),
    bleu4: mean(samples, (s) => s.bleu4),
  };
}
