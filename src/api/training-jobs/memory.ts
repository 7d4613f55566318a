/**
 * The memory check at job creation: the worker's memory plan (src/training/memory-plan.ts) run on the model's
 * stored shape and parameter count (no weights are read on the API's event loop), against the workers' budget
 * (WHETSTONE_MEMORY_BUDGET, and for a GPU job WHETSTONE_GPU_MEMORY, which a deployment sets alike for its API and
 * workers; the API asks no GPU of its own machine).
 */
import type { DataSource } from 'typeorm';
import { promptRoom } from '../../data';
import type { BaseModelEntity, DatasetEntity, TrainingJobEntity } from '../../db/entities';
import type { JobHyperparameters } from '../../training/hyperparameters';
import {
  MemoryBudget,
  ValidationPrompts,
  jobBudget,
  memoryJob,
  planTrainingMemory,
  storedRewardModel,
  virtualTokensOf,
} from '../../training/memory-plan';
import type { MethodName } from '../../training/methods';
import { type ScaleName, engineName } from '../../vocabulary';
import { refuseOverBudget } from '../common/memory';
import { fittingPrompts, trainingValidationPrompts } from '../common/prompt-fit';

/** RL's reward model: its REWARD_MODEL job and that job's base model. */
export interface StoredRewardModel {
  job: Pick<TrainingJobEntity, 'parameterScale'>;
  model: Pick<BaseModelEntity, 'shape' | 'parameterCount'>;
}

/**
 * The validation prompts a job's evalMetricsAtEpochEnd will generate for, measured as the evaluation's creation
 * measures its prompts (prompt-fit.ts, the model's tokenizer in a worker thread): undefined where the job does not
 * generate, the model has no stored shape (no estimate), or its tokenizer cannot encode them (the plan's bound).
 */
export async function jobValidationPrompts(
  db: DataSource,
  model: Pick<BaseModelEntity, 'shape' | 'path' | 'maxSequenceLength'>,
  dataset: DatasetEntity,
  parameterScale: ScaleName,
  hp: JobHyperparameters,
): Promise<ValidationPrompts | undefined> {
  if (!hp.evalMetricsAtEpochEnd || !model.shape) return undefined;
  const virtual = virtualTokensOf(engineName(parameterScale), hp);
  const prompts = trainingValidationPrompts(db, dataset, hp.validationSplitRatio, hp.seed);
  const room = promptRoom(model.maxSequenceLength, virtual, hp.evalMaxNewTokens);
  const fitting = await fittingPrompts(model.path, prompts, room);
  return fitting === null ? undefined : { ...fitting, maxPositions: model.maxSequenceLength };
}

/**
 * Throws BAD_USER_INPUT (reason MEMORY_BUDGET_EXCEEDED, the estimate and budget in the message) when no layout fits
 * beside the generation of evalMetricsAtEpochEnd, if any (`validationPrompts` wide where known), and RL's sampling
 * and scoring with `reward` (`planTrainingMemory`).
 */
export function checkJobMemory(
  model: Pick<BaseModelEntity, 'shape' | 'parameterCount' | 'maxSequenceLength'>,
  method: MethodName,
  parameterScale: ScaleName,
  hp: JobHyperparameters,
  reward?: StoredRewardModel,
  validationPrompts?: ValidationPrompts,
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
  refuseOverBudget(() =>
    planTrainingMemory(job, budget, { scale, hp, reward: rewardSize, validationPrompts }),
  );
}
