/**
 * Group-relative advantages (GRPO): the completions sampled for one prompt form a group, and each completion's
 * advantage is its reward relative to its group: (r - mean) / (std + eps). The standard deviation is the
 * unbiased one (n - 1), as torch.std and TRL's GRPO trainer compute it; a group whose rewards are all equal gets
 * advantages 0 (it carries no preference between its completions).
 */

/** Default epsilon added to the group standard deviation (TRL's value). */
export const ADVANTAGE_EPS = 1e-4;

export interface RewardStats {
  mean: number;
  /** Unbiased standard deviation (0 for fewer than two values). */
  std: number;
}

export function rewardStats(values: readonly number[]): RewardStats {
  const n = values.length;
  if (n === 0) throw new Error('rewardStats: no values');
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n < 2) return { mean, std: 0 };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  return { mean, std: Math.sqrt(variance) };
}

/**
 * Advantages of rewards laid out group by group: rewards[g * groupSize + i] is completion i of prompt g.
 */
export function groupAdvantages(
  rewards: readonly number[],
  groupSize: number,
  eps = ADVANTAGE_EPS,
): number[] {
  if (!Number.isInteger(groupSize) || groupSize < 2) {
    throw new Error(`groupAdvantages: a group needs at least 2 completions, got ${groupSize}`);
  }
  if (rewards.length % groupSize !== 0) {
    throw new Error(`groupAdvantages: ${rewards.length} rewards do not form groups of ${groupSize}`);
  }
  const out: number[] = [];
  for (let start = 0; start < rewards.length; start += groupSize) {
    const group = rewards.slice(start, start + groupSize);
    const { mean, std } = rewardStats(group);
    for (const r of group) out.push((r - mean) / (std + eps));
  }
  return out;
}
