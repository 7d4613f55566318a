/**
 * The memory check at job creation: the worker's memory plan (src/training/memory-plan.ts) run on the model's
 * stored shape and parameter count (no weights are read on the API's event loop), against the workers' budget
 * (WHETSTONE_MEMORY_BUDGET, and for a GPU job WHETSTONE_GPU_MEMORY, which a deployment sets alike for its API and
 * workers; the API asks no GPU of its own machine).
 */
import type { BaseModelEntity, TrainingJobEntity } from '../../db/entities';
import type { JobHyperparameters } from '../../training/hyperparameters';
import {
  MemoryBudget,
  jobBudget,
  memoryJob,
  planTrainingMemory,
  storedRewardModel,
} from '../../training/memory-plan';
import type { MethodName } from '../../training/methods';
import { type ScaleName, engineName } from '../../vocabulary';
import { refuseOverBudget } from '../common/memory';

/** RL's reward model: its REWARD_MODEL job and that job's base model. */
export interface StoredRewardModel {
  job: Pick<TrainingJobEntity, 'parameterScale'>;
  model: Pick<BaseModelEntity, 'shape' | 'parameterCount'>;
}

/**
 * Throws BAD_USER_INPUT (reason MEMORY_BUDGET_EXCEEDED, the estimate and budget in the message) when no layout fits
 * beside the generation of evalMetricsAtEpochEnd, if any, and RL's sampling and scoring with `reward`
 * (`planTrainingMemory`).
 */
export function checkJobMemory(
  model: Pick<BaseModelEntity, 'shape' | 'parameterCount' | 'maxSequenceLength'>,
  method: MethodName,
  parameterScale: ScaleName,
  hp: JobHyperparameters,
  reward?: StoredRewardModel,
  budget: MemoryBudget = jobBudget(engineName(hp.executionProvider), process.env, () => null),
): void {
  if (!model.shape) return;
  const scale = engineName(parameterScale);
  const job = memoryJob(model.shape, model.parameterCount, {
    method,
    scale,
    hp,
    maxPositions: model.maxSequenceLength,
  });
  const rewardShape = reward?.model.shape;
  const rewardSize =
    reward && rewardShape
      ? storedRewardModel(rewardShape, reward.model.parameterCount, engineName(reward.job.parameterScale))
      : undefined;
  refuseOverBudget(() => planTrainingMemory(job, budget, { scale, hp, reward: rewardSize }));
}
