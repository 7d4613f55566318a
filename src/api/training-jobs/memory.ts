/**
 * The memory check at job creation: the worker's memory plan run on the model's stored shape (common/memory.ts).
 */
import type { BaseModelEntity } from '../../db/entities';
import type { JobHyperparameters } from '../../training/hyperparameters';
import { memoryBudget, memoryJob, planMemory } from '../../training/memory-plan';
import type { MethodName } from '../../training/methods';
import { type ScaleName, engineName } from '../../vocabulary';
import { refuseOverBudget } from '../common/memory';

/** Throws BAD_USER_INPUT (reason MEMORY_BUDGET_EXCEEDED, the estimate and budget in the message) when no layout fits. */
export function checkJobMemory(
  model: Pick<BaseModelEntity, 'shape' | 'parameterCount' | 'maxSequenceLength'>,
  method: MethodName,
  parameterScale: ScaleName,
  hp: JobHyperparameters,
  budgetBytes = memoryBudget(),
): void {
  if (!model.shape) return;
  const job = memoryJob(model.shape, model.parameterCount, {
    method,
    scale: engineName(parameterScale),
    hp,
    maxPositions: model.maxSequenceLength,
  });
  refuseOverBudget(() => planMemory(job, budgetBytes));
}
