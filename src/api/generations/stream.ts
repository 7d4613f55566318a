/**
 * The stream behind `generationStream`: it listens on the generation's channel BEFORE reading what was published
 * (the Redis list of pieces) and the row, so nothing published in between is lost, and drops pieces it already
 * sent (by index). It ends with one FINAL event, read from the row once a final status is announced (the worker
 * stores the text before announcing it).
 */
import { FixedBuffer, Repeater } from '@repeaterjs/repeater';
import type { DataSource } from 'typeorm';
import { GenerationEntity, JobStatus, TERMINAL_STATUSES } from '../../db/entities';
import { jobChannel } from '../../queue/events';
import type { GenerationEventPayload } from '../../queue/generation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { ChannelSubscriber } from '../../queue/subscriber';
import type { Principal } from '../context';
import type { GenerationService } from './service';
import { GenerationEvent, GenerationEventKind } from './types';

/** Events buffered per subscriber while its client reads slowly (a piece per token, 4096 tokens at most). */
const BUFFER = 10_000;

function finalEvent(g: GenerationEntity): GenerationEvent {
  return {
    kind: GenerationEventKind.FINAL,
    generationId: g.id,
    status: g.status,
    index: null,
    text: g.text ?? '',
    generatedTokens: g.generatedTokens ?? 0,
    finishReason: g.finishReason,
    error: g.error,
  };
}

export class GenerationStreams {
  constructor(
    private readonly db: DataSource,
    private readonly generations: GenerationService,
    private readonly subscriber: ChannelSubscriber,
    private readonly publisher: EventPublisher,
    private readonly prefix: string,
  ) {}

  /** Throws NOT_FOUND (before any event) when the generation is not the caller's. */
  async stream(principal: Principal, id: string): Promise<AsyncIterable<GenerationEvent>> {
    await this.generations.get(principal, id);
    const repo = this.db.getRepository(GenerationEntity);
    return new Repeater<GenerationEvent>(async (push, stop) => {
      let next = 0;
      let finished = false;
      const handle = async (e: GenerationEventPayload) => {
        if (finished) return;
        if (e.type === 'generation-delta') {
          if (e.index < next) return;
          next = e.index + 1;
          await push({
            kind: GenerationEventKind.DELTA,
            generationId: id,
            status: JobStatus.RUNNING,
            index: e.index,
            text: e.text,
            generatedTokens: e.generatedTokens,
            finishReason: null,
            error: null,
          });
        } else if (TERMINAL_STATUSES.includes(e.status)) {
          finished = true;
          await push(finalEvent(await repo.findOneByOrFail({ id })));
          stop();
        }
      };
      // Events are handled one at a time, in the order they arrived; the early ones wait for what was stored.
      let startLive!: () => void;
      let queue = new Promise<void>((resolve) => (startLive = resolve));
      const unlisten = await this.subscriber.listen(jobChannel(this.prefix, id), (m) => {
        queue = queue.then(() => handle(m as GenerationEventPayload));
      });
      const row = await repo.findOneByOrFail({ id });
      if (TERMINAL_STATUSES.includes(row.status)) {
        finished = true;
        await push(finalEvent(row));
        stop();
      } else {
        for (const delta of await this.publisher.generationDeltas(id)) await handle(delta);
      }
      startLive();
      await stop;
      await unlisten();
    }, new FixedBuffer(BUFFER));
  }
}
