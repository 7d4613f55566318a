/** Per-sample scores and their means (metrics.md sections 2 and 3), one entry per registered metric. */
import { TokenizeOptions, tokenize } from '../text';
import { FLAT_SCORES, unflattenScores } from './flat-scores';
import { tokenPair } from './metric';
import { FlatScoreName, METRIC_DEFINITIONS, SampleScores, SetScores } from './registry';

/** Scores a prediction's tokens `p` against the reference's tokens `r`. */
export function scoreTokens(p: readonly string[], r: readonly string[]): SampleScores {
  const pair = tokenPair(p, r);
  const scores: Record<string, unknown> = {};
  for (const m of METRIC_DEFINITIONS) scores[m.key] = m.score(pair);
  return scores as SampleScores;
}

/** Tokenizes both texts with the same options, then scores them. */
export function scoreSample(
  prediction: string,
  reference: string,
  options: TokenizeOptions = {},
): SampleScores {
  return scoreTokens(tokenize(prediction, options), tokenize(reference, options));
}

function mean(samples: readonly SampleScores[], read: (s: SampleScores) => number): number {
  let sum = 0;
  for (const s of samples) sum += read(s);
  return sum / samples.length;
}

/** The arithmetic mean of every score. The mean of no samples is undefined, so an empty set is an error. */
export function aggregate(samples: readonly SampleScores[]): SetScores {
  if (samples.length === 0) throw new RangeError('aggregate: no samples to average');
  const means = Object.fromEntries(FLAT_SCORES.map((f) => [f.name, mean(samples, f.read)]));
  return { count: samples.length, ...unflattenScores(means as Record<FlatScoreName, number>) };
}
