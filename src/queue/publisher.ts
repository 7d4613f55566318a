/** Publishes job events and cancellation requests on Redis. */
import type Redis from 'ioredis';
import {
  apiKeyRevokedChannel,
  cancelChannel,
  jobChannel,
  latestStepKey,
  projectStatusChannel,
  StatusEventPayload,
  StepEventPayload,
} from './events';
import type { EvaluationEventPayload } from './evaluation-events';
import {
  generationDeltasKey,
  type GenerationDeltaPayload,
  type GenerationStatusPayload,
} from './generation-events';

/** A finished job's latest step is also in PostgreSQL; the key only has to outlive the batching delay. */
const LATEST_STEP_TTL_SECONDS = 24 * 3600;

/** A finished generation's text is in PostgreSQL; its pieces only serve subscribers that arrive while it runs. */
const GENERATION_DELTAS_TTL_SECONDS = 3600;

export class EventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async publishStep(event: StepEventPayload): Promise<void> {
    const json = JSON.stringify(event);
    await this.redis
      .multi()
      .set(latestStepKey(this.prefix, event.jobId), json, 'EX', LATEST_STEP_TTL_SECONDS)
      .publish(jobChannel(this.prefix, event.jobId), json)
      .exec();
  }

  async publishStatus(event: StatusEventPayload): Promise<void> {
    const json = JSON.stringify(event);
    await this.redis
      .multi()
      .publish(jobChannel(this.prefix, event.jobId), json)
      .publish(projectStatusChannel(this.prefix, event.projectId), json)
      .exec();
  }

  async publishEvaluation(event: EvaluationEventPayload): Promise<void> {
    await this.redis.publish(jobChannel(this.prefix, event.jobId), JSON.stringify(event));
  }

  /** Appends a piece of a generation's text to its list and announces it, in one round trip. */
  async publishGenerationDelta(event: GenerationDeltaPayload): Promise<void> {
    const json = JSON.stringify(event);
    const key = generationDeltasKey(this.prefix, event.generationId);
    await this.redis
      .multi()
      .rpush(key, json)
      .expire(key, GENERATION_DELTAS_TTL_SECONDS)
      .publish(jobChannel(this.prefix, event.generationId), json)
      .exec();
  }

  async publishGenerationStatus(event: GenerationStatusPayload): Promise<void> {
    await this.redis.publish(jobChannel(this.prefix, event.generationId), JSON.stringify(event));
  }

  /** The pieces of a generation published so far, in order. */
  async generationDeltas(generationId: string): Promise<GenerationDeltaPayload[]> {
    const list = await this.redis.lrange(generationDeltasKey(this.prefix, generationId), 0, -1);
    return list.map((json) => JSON.parse(json) as GenerationDeltaPayload);
  }

  async requestCancel(jobId: string): Promise<void> {
    await this.redis.publish(cancelChannel(this.prefix), JSON.stringify({ jobId }));
  }

  async announceKeyRevoked(apiKeyId: string): Promise<void> {
    await this.redis.publish(apiKeyRevokedChannel(this.prefix), JSON.stringify({ apiKeyId }));
  }

  async latestStep(jobId: string): Promise<StepEventPayload | null> {
    const json = await this.redis.get(latestStepKey(this.prefix, jobId));
    return json ? (JSON.parse(json) as StepEventPayload) : null;
  }
}
