/**
 * The words every layer shares, spelled once: training methods and parameter scales as the API, the database and
 * the hyperparameter specification name them. Lower layers (training, models) and upper ones (API, worker, CLI)
 * import these; this file imports nothing.
 */

export const METHOD_NAMES = ['SFT', 'REWARD_MODEL', 'DPO', 'RL'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

export const SCALE_NAMES = ['FULL', 'LORA', 'PROMPT_TUNING'] as const;
export type ScaleName = (typeof SCALE_NAMES)[number];
