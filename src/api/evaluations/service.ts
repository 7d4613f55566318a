/**
 * Evaluation jobs: creation (checked input, the evaluated model resolved to folders once (common/generating-model),
 * one row, one queue entry) and cancellation.
 */
import type { DataSource } from 'typeorm';
import { DatasetSplit, EvaluationJobEntity, JobStatus as S, MetricStopwords } from '../../db/entities';
import { RESUMABLE_STATUSES } from '../../db/job-status';
import { RESUME_PATCH, transitionJob, type Transition } from '../../db/store/jobs';
import { EVALUATION_DATASET_KIND } from '../../vocabulary';
import { batchWidth } from '../../models/generation-shape';
import { evaluationStatusEvent } from '../../queue/evaluation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { TypedQueue } from '../../queue/queues';
import { cancelJob } from '../common/cancel';
import { generatingModel } from '../common/generating-model';
import { checkGenerationFits } from '../common/memory';
import { checkPromptsFit, datasetPrompts } from '../common/prompt-fit';
import { checkRange, checkSampling } from '../common/model-run-input';
import { insertQueuedJob } from '../common/queued-job';
import { findInProject } from '../common/ids';
import { checkName } from '../common/names';
import type { Principal } from '../context';
import type { DatasetService } from '../datasets/service';
import { badInput, conflict, notFound } from '../errors';
import type { ModelService } from '../models/service';
import { CreateEvaluationJobInput, MAX_STOPWORDS } from './types';

const at = (field: string) => ['input', field];

/** The settings as the row stores them, checked; BAD_USER_INPUT names the field. */
function checkSettings(input: CreateEvaluationJobInput, modelMaxSequenceLength: number) {
  const sampling = checkSampling(input, modelMaxSequenceLength);
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
    ...sampling,
    batchSize: input.batchSize,
    segmenter: input.segmenter,
    stopwords: input.stopwords,
    customStopwords: custom,
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
    const job = await findInProject(this.db, EvaluationJobEntity, principal, id);
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
    if (dataset.kind !== EVALUATION_DATASET_KIND) {
      throw badInput(
        `evaluation needs an ${EVALUATION_DATASET_KIND} dataset (prompts with reference responses); "${dataset.name}" is ${dataset.kind}`,
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
    const { columns: runs, adapterParameters } = await generatingModel(this.db, principal, model, input);
    const prompts = datasetPrompts(this.db, dataset, split);
    const fit = await checkPromptsFit(this.db, runs, model.maxSequenceLength, settings.maxNewTokens, prompts);
    const { maxNewTokens } = settings;
    const run = {
      batchSize: Math.min(settings.batchSize, rowCount),
      promptWidth: batchWidth(fit.longestTokens, model.maxSequenceLength, fit.virtualTokens, maxNewTokens),
      maxNewTokens,
      virtualTokens: fit.virtualTokens,
      copiedParameters: adapterParameters,
    };
    checkGenerationFits(model, run, 'evaluation', settings.executionProvider);
    const job = await insertQueuedJob(
      this.db,
      'evaluation',
      {
        projectId: principal.projectId,
        name,
        baseModelId: model.id,
        datasetId: dataset.id,
        datasetSplit: split,
        ...settings,
        ...runs,
      },
      this.queue,
    );
    await this.announce({ job, previousStatus: null });
    return job;
  }

  /**
   * A queued evaluation is cancelled at once; a running one is asked to stop: its worker stops after the batch
   * it is generating, keeps the samples stored so far, and marks it CANCELLED. Asking again is harmless.
   */
  async cancel(principal: Principal, id: string): Promise<EvaluationJobEntity> {
    return cancelJob(id, {
      db: this.db,
      kind: 'evaluation',
      noun: 'evaluation',
      get: () => this.get(principal, id),
      announce: (moved) => this.announce(moved),
      requestCancel: () => this.events.requestCancel(id),
    });
  }

  /**
   * Puts a FAILED or CANCELLED evaluation back in the queue: the next run scores the rows not scored yet, with
   * all its attempts again.
   */
  async resume(principal: Principal, id: string): Promise<EvaluationJobEntity> {
    const job = await this.get(principal, id);
    const moved = await transitionJob(
      this.db.manager,
      id,
      RESUMABLE_STATUSES,
      S.QUEUED,
      RESUME_PATCH,
      undefined,
      'evaluation',
    );
    if (!moved) {
      throw conflict(
        `evaluation ${id} is ${job.status}; only ${RESUMABLE_STATUSES.join(' or ')} ones can be resumed`,
      );
    }
    await this.queue.add({ jobId: id, projectId: moved.job.projectId });
    await this.announce(moved);
    return moved.job;
  }

  private announce(t: Omit<Transition<'evaluation'>, 'previousStatus'> & { previousStatus: S | null }) {
    return this.events.publishEvaluation(evaluationStatusEvent(t));
  }
}
