/**
 * Generations (the playground): creation (checked input, the model resolved to folders once, one row, one entry
 * on the `generation` queue, which workers take beside their training and evaluation jobs) and cancellation. The
 * API process never runs a model; the text streams from the worker through Redis (see stream.ts).
 */
import type { DataSource } from 'typeorm';
import { GenerationEntity } from '../../db/entities';
import { generationStatusEvent } from '../../queue/generation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { TypedQueue } from '../../queue/queues';
import { cancelJob } from '../common/cancel';
import { generatingModel } from '../common/generating-model';
import { checkGenerationFits } from '../common/memory';
import { checkPromptsFit, singlePrompt } from '../common/prompt-fit';
import { findInProject } from '../common/ids';
import { checkSampling } from '../common/model-run-input';
import { insertQueuedJob } from '../common/queued-job';
import type { Principal } from '../context';
import { badInput, notFound } from '../errors';
import type { ModelService } from '../models/service';
import type { CreateGenerationInput } from './types';

export class GenerationService {
  constructor(
    private readonly db: DataSource,
    private readonly models: ModelService,
    private readonly queue: TypedQueue<'generation'>,
    private readonly events: EventPublisher,
  ) {}

  async get(principal: Principal, id: string): Promise<GenerationEntity> {
    const generation = await findInProject(this.db, GenerationEntity, principal, id);
    if (!generation) throw notFound('Generation', id);
    return generation;
  }

  async create(principal: Principal, input: CreateGenerationInput): Promise<GenerationEntity> {
    // The schema caps its length and refuses text PostgreSQL cannot store (limits.ts).
    const { prompt } = input;
    if (prompt.length === 0) throw badInput('prompt must not be empty', ['input', 'prompt']);
    const model = await this.models.find(principal, input.baseModelId);
    if (!model) throw badInput(`no model ${input.baseModelId} in this project`, ['input', 'baseModelId']);
    const sampling = checkSampling(input, model.maxSequenceLength);
    const { columns: runs, adapterParameters } = await generatingModel(this.db, principal, model, input);
    const prompts = singlePrompt(prompt, input.chatTemplate);
    const fit = await checkPromptsFit(this.db, runs, model.maxSequenceLength, sampling.maxNewTokens, prompts);
    const run = {
      batchSize: 1,
      promptWidth: fit.longestTokens,
      maxNewTokens: sampling.maxNewTokens,
      virtualTokens: fit.virtualTokens,
      copiedParameters: adapterParameters,
    };
    checkGenerationFits(model, run, 'generation', sampling.executionProvider);
    return insertQueuedJob(
      this.db,
      'generation',
      {
        projectId: principal.projectId,
        baseModelId: model.id,
        ...runs,
        prompt,
        chatTemplate: input.chatTemplate,
        ...sampling,
      },
      this.queue,
    );
  }

  /**
   * A queued generation is cancelled at once; a running one stops after the token it is generating and keeps
   * the text so far. Asking again is harmless.
   */
  cancel(principal: Principal, id: string): Promise<GenerationEntity> {
    return cancelJob(id, {
      db: this.db,
      kind: 'generation',
      noun: 'generation',
      get: () => this.get(principal, id),
      announce: (moved) => this.events.publishGenerationStatus(generationStatusEvent(moved.job)),
      requestCancel: () => this.events.requestCancel(id),
    });
  }
}
