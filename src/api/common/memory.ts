/**
 * The memory checks at creation: the worker's estimates (src/training/memory-plan.ts) run on the model's stored
 * shape and parameter count (no weights are read on the API's event loop), against the workers' budget
 * (WHETSTONE_MEMORY_BUDGET, which a deployment sets alike for its API and workers). A refusal is BAD_USER_INPUT
 * with reason MEMORY_BUDGET_EXCEEDED, the estimate, the budget and what to change in its message.
 */
import { GraphQLError } from 'graphql';
import type { BaseModelEntity } from '../../db/entities';
import { UserInputError } from '../../errors';
import {
  checkGenerationMemory,
  jobBudget,
  type GenerationMemoryJob,
  type MemoryBudget,
} from '../../training/memory-plan';
import { engineName, type ProviderName } from '../../vocabulary';

/** Runs `check`; its UserInputError becomes the API's refusal, the path under `input`. */
export function refuseOverBudget(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof UserInputError)) throw err;
    throw new GraphQLError(err.message, {
      extensions: { code: 'BAD_USER_INPUT', reason: err.code, path: ['input', ...err.path] },
    });
  }
}

/**
 * An evaluation's widest batch or a generation's prompt against the budget, on a GPU provider the device's where it
 * is lower (`jobBudget`, as a training job's; a model without a stored shape passes).
 */
export function checkGenerationFits(
  model: Pick<BaseModelEntity, 'shape' | 'parameterCount'>,
  run: Omit<GenerationMemoryJob, 'shape' | 'parameters'>,
  what: 'evaluation' | 'generation',
  executionProvider: ProviderName,
  budget: number | MemoryBudget = jobBudget(engineName(executionProvider), process.env, () => null),
): void {
  const shape = model.shape;
  if (!shape) return;
  const job = { ...run, shape, parameters: model.parameterCount };
  refuseOverBudget(() => checkGenerationMemory(job, budget, what));
}
