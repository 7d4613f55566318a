/**
 * The model an evaluation or a generation runs: a registered base model as it is, or a checkpoint of one of its
 * training jobs (a full checkpoint is itself a model folder; a LoRA or prompt-tuning checkpoint is an adapter on
 * the base model), resolved to folders once, when the job is created.
 */
import { METHOD_NAMES, methodWord } from '../../vocabulary';
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

/**
 * `model` alone, or the checkpoint named by checkpointId, or the latest of trainingJobId. Both must belong to a
 * training job of this project on `model` that generates text; BAD_USER_INPUT names the field otherwise.
 */
export async function generatingModel(
  db: DataSource,
  principal: Principal,
  model: BaseModelEntity,
  choice: ModelChoice,
): Promise<GeneratingModel> {
  const checkpoint = await checkpointOf(db, principal, model.id, choice);
  if (!checkpoint) {
    return {
      trainingJobId: null,
      checkpointId: null,
      modelKind: EvaluatedModelKind.BASE,
      modelPath: model.path,
      adapterPath: null,
    };
  }
  const full = checkpoint.job.parameterScale === ParameterScale.FULL;
  return {
    trainingJobId: checkpoint.job.id,
    checkpointId: checkpoint.id,
    modelKind: KIND_OF_SCALE[checkpoint.job.parameterScale],
    modelPath: full ? checkpoint.path : model.path,
    adapterPath: full ? null : checkpoint.path,
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
