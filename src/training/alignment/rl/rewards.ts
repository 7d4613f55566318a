/**
 * Rewards of sampled completions from a reward model. The reward model read every training sequence at its
 * end-of-sequence token (prompt + answer + EOS), so a completion is scored the same way: EOS appended when the
 * sampler stopped at maxNewTokens. A reward model with another tokenizer gets the text, re-encoded with its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TextTokenizer } from '../../../models/tokenizer';
import { RewardScorer } from '../reward-scorer';

export interface Sample {
  /** Prompt ids as the policy saw them (BOS included). */
  prompt: readonly number[];
  /** Generated ids, ending with EOS when the policy stopped by itself. */
  completion: readonly number[];
}

export type RewardFunction = (samples: readonly Sample[]) => Promise<number[]>;

function sameTokenizer(a: TextTokenizer, b: TextTokenizer): boolean {
  const file = (t: TextTokenizer) => fs.readFileSync(path.join(t.folder, 'tokenizer.json'), 'utf8');
  return a.folder === b.folder || file(a) === file(b);
}

/** Score samples of a policy that uses `policyTokenizer` with the reward model behind `scorer`. */
export function rewardModelRewards(scorer: RewardScorer, policyTokenizer: TextTokenizer): RewardFunction {
  const rewardTokenizer = scorer.model.tokenizer;
  const eos = rewardTokenizer.eosTokenId;
  if (eos === null)
    throw new Error(`${rewardTokenizer.folder}: the reward model's tokenizer has no EOS token`);
  const same = sameTokenizer(policyTokenizer, rewardTokenizer);
  const text = (ids: readonly number[]) => policyTokenizer.decode(ids, { skipSpecialTokens: true });
  return (samples) =>
    scorer.score(
      samples.map((s) => {
        const ids = same
          ? [...s.prompt, ...s.completion]
          : rewardTokenizer.encode(text(s.prompt) + text(s.completion));
        return ids[ids.length - 1] === eos ? ids : [...ids, eos];
      }),
    );
}
