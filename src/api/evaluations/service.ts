/**
 * Evaluation jobs: creation (checked input, the evaluated model resolved to folders once, one row, one queue
 * entry) and cancellation. The model is the base model, or a checkpoint of one of its training jobs: a full
 * checkpoint is itself a model folder; a LoRA or prompt-tuning checkpoint is an adapter on the base model.
 */
import type { DataSource } from 'typeorm';
import {
  CheckpointEntity,
  DatasetKind,
  DatasetSplit,
  EvaluatedModelKind,
  EvaluationJobEntity,
  JobStatus as S,
  MetricStopwords,
  ParameterScale,
  TrainingJobEntity,
  TrainingMethod,
} from '../../db/entities';
import { transitionJob, type Transition } from '../../db/job-status';
import { evaluationStatusEvent } from '../../queue/evaluation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { TypedQueue } from '../../queue/queues';
import { cancelJob } from '../common/cancel';
import { isUuid } from '../common/ids';
import { checkName } from '../common/names';
import type { Principal } from '../context';
import type { DatasetService } from '../datasets/service';
import { badInput, notFound } from '../errors';
import type { ModelService } from '../models/service';
import { CreateEvaluationJobInput, MAX_STOPWORDS } from './types';

/** Training methods whose checkpoints generate text (a reward model's head scores, it does not generate). */
const GENERATING_METHODS: readonly TrainingMethod[] = [
  TrainingMethod.SFT,
  TrainingMethod.DPO,
  TrainingMethod.RL,
];

const KIND_OF_SCALE: Record<ParameterScale, EvaluatedModelKind> = {
  [ParameterScale.FULL]: EvaluatedModelKind.FULL,
  [ParameterScale.LORA]: EvaluatedModelKind.LORA,
  [ParameterScale.PROMPT_TUNING]: EvaluatedModelKind.PROMPT_TUNING,
};

const at = (field: string) => ['input', field];

function checkRange(field: string, value: number, min: number, max: number, integer: boolean): void {
  const ok = Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!ok)
    throw badInput(`${field} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, at(field));
}

/** The settings as the row stores them, checked; BAD_USER_INPUT names the field. */
function checkSettings(input: CreateEvaluationJobInput, modelMaxSequenceLength: number) {
  checkRange('maxNewTokens', input.maxNewTokens, 1, Math.min(4096, modelMaxSequenceLength - 1), true);
  checkRange('temperature', input.temperature, 0, 10, false);
  if (!(input.topP > 0 && input.topP <= 1)) throw badInput('topP must be in (0, 1]', at('topP'));
  checkRange('seed', input.seed, 0, 2147483647, true);
  checkRange('batchSize', input.batchSize, 1, 256, true);
  const custom = input.customStopwords ?? null;
  if (input.stopwords === MetricStopwords.CUSTOM) {
    if (!custom?.length || custom.length > MAX_STOPWORDS) {
      throw badInput(`stopwords CUSTOM needs 1 to ${MAX_STOPWORDS} customStopwords`, at('customStopwords'));
    }
  } else if (custom !== null) {
    throw badInput('customStopwords need stopwords CUSTOM', at('customStopwords'));
  }
  return {
    maxNewTokens: input.maxNewTokens,
    temperature: input.temperature,
    topP: input.topP,
    seed: input.seed,
    batchSize: input.batchSize,
    segmenter: input.segmenter,
    stopwords: input.stopwords,
    customStopwords: custom,
    executionProvider: input.executionProvider,
  };
}

export class EvaluationService {
  constructor(
    private readonly db: DataSource,
    private readonly models: ModelService,
    private readonly datasets: DatasetService,
    private readonly queue: TypedQueue<'evaluation'>,
    private readonly events: EventPublisher,
  ) {}

  async get(principal: Principal, id: string): Promise<EvaluationJobEntity> {
    const job = isUuid(id)
      ? await this.db.getRepository(EvaluationJobEntity).findOneBy({ id, projectId: principal.projectId })
      : null;
    if (!job) throw notFound('EvaluationJob', id);
    return job;
  }

  async create(principal: Principal, input: CreateEvaluationJobInput): Promise<EvaluationJobEntity> {
    const name = checkName(input.name, at('name'));
    const [model, dataset] = await Promise.all([
      this.models.find(principal, input.baseModelId),
      this.datasets.find(principal, input.datasetId),
    ]);
    if (!model) throw badInput(`no model ${input.baseModelId} in this project`, at('baseModelId'));
    if (!dataset) throw badInput(`no dataset ${input.datasetId} in this project`, at('datasetId'));
    if (dataset.kind !== DatasetKind.SFT) {
      throw badInput(
        `evaluation needs an SFT dataset (prompts with reference responses); "${dataset.name}" is ${dataset.kind}`,
        at('datasetId'),
      );
    }
    const split = input.datasetSplit ?? null;
    const rowCount =
      split === null
        ? dataset.rowCount
        : split === DatasetSplit.TRAIN
          ? dataset.trainRowCount
          : dataset.validationRowCount;
    if (rowCount === 0) throw badInput(`dataset "${dataset.name}" has no ${split} rows`, at('datasetSplit'));
    const settings = checkSettings(input, model.maxSequenceLength);
    const checkpoint = await this.checkpointToEvaluate(principal, model.id, input);
    const job = await this.db.getRepository(EvaluationJobEntity).save({
      projectId: principal.projectId,
      name,
      baseModelId: model.id,
      datasetId: dataset.id,
      datasetSplit: split,
      ...settings,
      ...(checkpoint
        ? {
            trainingJobId: checkpoint.job.id,
            checkpointId: checkpoint.id,
            modelKind: KIND_OF_SCALE[checkpoint.job.parameterScale],
            modelPath: checkpoint.job.parameterScale === ParameterScale.FULL ? checkpoint.path : model.path,
            adapterPath: checkpoint.job.parameterScale === ParameterScale.FULL ? null : checkpoint.path,
          }
        : { modelKind: EvaluatedModelKind.BASE, modelPath: model.path, adapterPath: null }),
      status: S.QUEUED,
    });
    try {
      await this.queue.add({ jobId: job.id, projectId: job.projectId });
    } catch (err) {
      // A job nobody will ever take must not stay behind as QUEUED.
      await this.db.getRepository(EvaluationJobEntity).delete({ id: job.id });
      throw err;
    }
    await this.announce({ job, previousStatus: null });
    return job;
  }

  /**
   * The checkpoint named by checkpointId, or the latest of trainingJobId; null when neither is given. Both must
   * belong to a training job of this project on the same base model that generates text.
   */
  private async checkpointToEvaluate(
    principal: Principal,
    baseModelId: string,
    input: CreateEvaluationJobInput,
  ): Promise<(CheckpointEntity & { job: TrainingJobEntity }) | null> {
    const { trainingJobId, checkpointId } = input;
    if (!trainingJobId && !checkpointId) return null;
    let checkpoint: CheckpointEntity | null = null;
    if (checkpointId) {
      // Scoped to the project: another project's checkpoint reads exactly like an unknown id.
      checkpoint = isUuid(checkpointId)
        ? await this.db
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
      ? await this.db
          .getRepository(TrainingJobEntity)
          .findOneBy({ id: jobId, projectId: principal.projectId })
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
      throw badInput(
        `training job ${job.id} trains a ${job.method}, which does not generate text`,
        at(field),
      );
    }
    checkpoint ??= await this.db
      .getRepository(CheckpointEntity)
      .findOne({ where: { jobId: job.id }, order: { step: 'DESC' } });
    if (!checkpoint) throw badInput(`training job ${job.id} has no checkpoint yet`, at('trainingJobId'));
    return Object.assign(checkpoint, { job });
  }

  /**
   * A queued evaluation is cancelled at once; a running one is asked to stop: its worker stops after the batch
   * it is generating, keeps the samples stored so far, and marks it CANCELLED. Asking again is harmless.
   */
  async cancel(principal: Principal, id: string): Promise<EvaluationJobEntity> {
    return cancelJob(id, {
      db: this.db,
      table: 'evaluation_jobs',
      noun: 'evaluation',
      get: () => this.get(principal, id),
      cancelQueued: async () => {
        const moved = await transitionJob(
          this.db.manager,
          id,
          [S.QUEUED],
          S.CANCELLED,
          { finished_at: 'now' },
          undefined,
          'evaluation',
        );
        if (moved) await this.announce(moved);
        return moved?.job ?? null;
      },
      requestCancel: () => this.events.requestCancel(id),
    });
  }

  private announce(t: Omit<Transition<'evaluation'>, 'previousStatus'> & { previousStatus: S | null }) {
    return this.events.publishEvaluation(evaluationStatusEvent(t));
  }
}
