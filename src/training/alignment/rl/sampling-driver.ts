/**
 * RL's driver (../../driver.ts): epochs over the prompts in batches of `batchSize` prompts; each batch is one unit
 * of the loop, an RL iteration (sample numGenerations completions per prompt, score them, rlEpochs optimizer
 * steps; rl-trainer.ts). A step's data comes from sampling the policy as it is at that step, so no rows are
 * collated; every optimizer step still reports one StepEvent (the extras kl, clipFraction, rewardMean, rewardStd,
 * completionLength) and the run's checkpoints, resume, progress and validation are the skeleton's (run.ts). The
 * loop position counts iterations; the shared RNG draws the prompt shuffles and every iteration's sampling seed,
 * so a resumed run samples and updates exactly as the straight run would have. The reference stays the starting
 * policy: the base model stays loaded and a full update takes only its trained values from a checkpoint.
 *
 * Validation measures the mean reward-model score of the policy's greedy completion of each validation prompt
 * (`eval_reward_mean`): what the run optimises, free of sampling noise.
 */
import { UserInputError } from '../../../errors';
import { PromptExample } from '../../../data/examples';
import type { Driver } from '../../driver';
import { Hyperparameters } from '../../hyperparameters';
import { loadRewardModel } from '../reward-checkpoint';
import { RewardScorer } from '../reward-scorer';
import { RlSettings, RlTrainer } from './rl-trainer';
import { rewardModelRewards } from './rewards';
import { promptLength } from './rows';

export function rlSettings(hp: Hyperparameters): RlSettings {
  return {
    numGenerations: hp.numGenerations,
    maxNewTokens: hp.maxNewTokens,
    temperature: hp.temperature,
    topP: hp.topP,
    rlEpochs: hp.rlEpochs,
    microBatches: hp.gradientAccumulationSteps,
  };
}

const promptIds = (examples: unknown[]) => (examples as PromptExample[]).map((e) => e.promptIds);

export const SAMPLING_ITERATIONS: Driver = {
  exampleLength: promptLength,
  keepsBaseModel: true,
  async start(run) {
    const { req, rng } = run;
    const hp = req.hyperparameters;
    if (!req.rewardModelPath) {
      throw new UserInputError('RL needs a reward model (rewardModelJobId)', ['rewardModelJobId']);
    }
    const prompts = promptIds(run.examples);
    const iterationsPerEpoch = Math.ceil(prompts.length / hp.batchSize);
    const done = run.position.epoch * iterationsPerEpoch + run.position.microBatch;
    if (done * hp.rlEpochs !== run.state.step) {
      throw new UserInputError(
        `resumeFrom ${req.resumeFrom}: its step ${run.state.step} is not ${hp.rlEpochs} steps per iteration before iteration ${done + 1}`,
        ['resumeFrom'],
        'BAD_CHECKPOINT',
      );
    }
    const { executionProvider, threads } = run.trainer;
    // Every scored sequence (prompt + completion + EOS) padded to the longest one possible: one session shape per
    // number of rows, whatever the completions' lengths (memory-plan.ts `lessRlSampling` sizes that width).
    const scorer = new RewardScorer(await loadRewardModel(req.rewardModelPath), {
      executionProvider,
      threads,
      bucket: run.maxLength + 2,
    });
    const reward = rewardModelRewards(scorer, run.model.tokenizer);
    // The sampling Generator handles 16-bit weights as the memory plan chose (memory-plan.ts `lessRlSampling`).
    const settings = { ...rlSettings(hp), halfWeights: run.memory.samplingHalfWeights };
    const rl = new RlTrainer(run.model, run.params, run.objective, reward, settings, run.trainer, run.state);
    return {
      steps: {
        totalSteps: Math.ceil(hp.epochs * iterationsPerEpoch) * hp.rlEpochs,
        stepsPerEpoch: iterationsPerEpoch * hp.rlEpochs,
        get state() {
          return rl.state;
        },
        async next(position, lr) {
          const { epoch, microBatch } = position;
          const order =
            position.order ?? (hp.shuffle ? rng.permutation(prompts.length) : [...prompts.keys()]);
          const batch = order.slice(microBatch * hp.batchSize, (microBatch + 1) * hp.batchSize);
          const it = await rl.iteration(
            batch.map((j) => prompts[j]),
            lr,
            rng.nextUint32(),
          );
          return {
            results: it.updates,
            metrics: {
              rewardMean: it.rewardMean,
              rewardStd: it.rewardStd,
              completionLength: it.completionLength,
            },
            position:
              microBatch + 1 === iterationsPerEpoch
                ? { epoch: epoch + 1, microBatch: 0, order: null }
                : { epoch, microBatch: microBatch + 1, order },
          };
        },
      },
      validator: async (examples) => {
        // As many sequences at a time as an iteration samples.
        const chunk = hp.batchSize * hp.numGenerations;
        const validation = promptIds(examples);
        return {
          measure: async () => ({ eval_reward_mean: await rl.greedyReward(validation, chunk) }),
          release: async () => undefined,
        };
      },
      release: async () => {
        await rl.release();
        await scorer.release();
      },
    };
  },
};
