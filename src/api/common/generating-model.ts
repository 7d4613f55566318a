/**
 * The model an evaluation or a generation runs: a registered base model as it is, or a checkpoint of one of its
 * training jobs (a full checkpoint is itself a model folder; a LoRA or prompt-tuning checkpoint is an adapter on
 * the base model), resolved to folders once, when the job is created.
 */
import { METHOD_NAMES, engineName, methodWord } from '../../vocabulary';
import { defaultValue, type Hyperparameters } from '../../training/hyperparameters';
import { adapterParameters } from '../../training/memory-plan';
import type { DataSource } from 'typeorm';
import {
  CheckpointEntity,
  EvaluatedModelKind,
  ParameterScale,
  TrainingJobEntity,
  TrainingMethod,
  type BaseModelEntity,
} from '../../db/entities';
import type { Principal } from '../context';
import { badInput } from '../errors';
import { isUuid } from './ids';

/** Training methods whose checkpoints generate text (a reward model's head scores, it does not generate). */
const GENERATING_METHODS: readonly TrainingMethod[] = METHOD_NAMES.filter((m) => methodWord(m).generates);

const KIND_OF_SCALE: Record<ParameterScale, EvaluatedModelKind> = {
  [ParameterScale.FULL]: EvaluatedModelKind.FULL,
  [ParameterScale.LORA]: EvaluatedModelKind.LORA,
  [ParameterScale.PROMPT_TUNING]: EvaluatedModelKind.PROMPT_TUNING,
};

export interface ModelChoice {
  trainingJobId?: string | null;
  checkpointId?: string | null;
}

/** The columns that say what runs (as evaluation_jobs and generations store them). */
export interface GeneratingModel {
  trainingJobId: string | null;
  checkpointId: string | null;
  modelKind: EvaluatedModelKind;
  modelPath: string;
  adapterPath: string | null;
}

const at = (field: string) => ['input', field];

/** The hyperparameters that size an adapter. */
const ADAPTER_FIELDS = ['loraRank', 'loraTargets', 'numVirtualTokens'] as const;

/**
 * `model` alone, or the checkpoint named by checkpointId, or the latest of trainingJobId. Both must belong to a
 * training job of this project on `model` that generates text; BAD_USER_INPUT names the field otherwise. With the
 * columns, the adapter's tensors as the memory estimate counts them (memory-plan.ts `adapterParameters`, from the
 * training job's hyperparameters; 0 without an adapter or a stored shape).
 */
export async function generatingModel(
  db: DataSource,
  principal: Principal,
  model: BaseModelEntity,
  choice: ModelChoice,
): Promise<{ columns: GeneratingModel; adapterParameters: number }> {
  const checkpoint = await checkpointOf(db, principal, model.id, choice);
  if (!checkpoint) {
    const columns = {
      trainingJobId: null,
      checkpointId: null,
      modelKind: EvaluatedModelKind.BASE,
      modelPath: model.path,
      adapterPath: null,
    };
    return { columns, adapterParameters: 0 };
  }
  const { job } = checkpoint;
  const full = job.parameterScale === ParameterScale.FULL;
  // A key the stored hyperparameters lack counts as its default.
  const stored = job.hyperparameters;
  const hp = Object.fromEntries(
    ADAPTER_FIELDS.map((k) => [k, k in stored ? stored[k] : defaultValue(k)]),
  ) as Pick<Hyperparameters, (typeof ADAPTER_FIELDS)[number]>;
  return {
    columns: {
      trainingJobId: job.id,
      checkpointId: checkpoint.id,
      modelKind: KIND_OF_SCALE[job.parameterScale],
      modelPath: full ? checkpoint.path : model.path,
      adapterPath: full ? null : checkpoint.path,
    },
    adapterParameters: model.shape ? adapterParameters(model.shape, engineName(job.parameterScale), hp) : 0,
  };
}

async function checkpointOf(
  db: DataSource,
  principal: Principal,
  baseModelId: string,
  { trainingJobId, checkpointId }: ModelChoice,
): Promise<(CheckpointEntity & { job: TrainingJobEntity }) | null> {
  if (!trainingJobId && !checkpointId) return null;
  let checkpoint: CheckpointEntity | null = null;
  if (checkpointId) {
    // Scoped to the project: another project's checkpoint reads exactly like an unknown id.
    checkpoint = isUuid(checkpointId)
      ? await db
          .getRepository(CheckpointEntity)
          .createQueryBuilder('c')
          .innerJoin(TrainingJobEntity, 'j', 'j.id = c.job_id')
          .where('c.id = :checkpointId AND j.project_id = :projectId', {
            checkpointId,
            projectId: principal.projectId,
          })
          .getOne()
      : null;
    if (!checkpoint) throw badInput(`no checkpoint ${checkpointId} in this project`, at('checkpointId'));
  }
  const jobId = trainingJobId ?? checkpoint!.jobId;
  const field = trainingJobId ? 'trainingJobId' : 'checkpointId';
  const job = isUuid(jobId)
    ? await db.getRepository(TrainingJobEntity).findOneBy({ id: jobId, projectId: principal.projectId })
    : null;
  if (!job) {
    throw badInput(
      field === 'trainingJobId'
        ? `no training job ${jobId} in this project`
        : `no checkpoint ${checkpointId} in this project`,
      at(field),
    );
  }
  if (checkpoint && checkpoint.jobId !== job.id) {
    throw badInput(`checkpoint ${checkpoint.id} is not one of training job ${job.id}`, at('checkpointId'));
  }
  if (job.baseModelId !== baseModelId) {
    throw badInput(`training job ${job.id} trains model ${job.baseModelId}, not ${baseModelId}`, at(field));
  }
  if (!GENERATING_METHODS.includes(job.method)) {
    throw badInput(`training job ${job.id} trains a ${job.method}, which does not generate text`, at(field));
  }
  checkpoint ??= await db
    .getRepository(CheckpointEntity)
    .findOne({ where: { jobId: job.id }, order: { step: 'DESC' } });
  if (!checkpoint) throw badInput(`training job ${job.id} has no checkpoint yet`, at('trainingJobId'));
  return Object.assign(checkpoint, { job });
}
