/**
 * Generations for the job runner: a run publishes each piece of text as the child decodes it (Redis, for the
 * generationStream subscribers) and stores the whole text when it ends, SUCCEEDED or CANCELLED with the text so
 * far. A run taken over after its worker died, or requeued by a shutdown, generates again from the start with the
 * same seed, so the same pieces come at the same indices and a subscriber's stream goes on where it was.
 */
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { GenerationEntity } from '../../db/entities';
import type { ExecutionProvider } from '../../engine/session';
import { generationStatusEvent } from '../../queue/generation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { JobDefinition } from '../job-runner';
import type { GenerationSpec } from './generate';
import type { GenerationProgress } from './messages';

export interface GenerationJobsDeps {
  db: DataSource;
  publisher: EventPublisher;
}

function specOf(g: GenerationEntity): GenerationSpec {
  return {
    modelPath: g.modelPath,
    adapterPath: g.adapterPath,
    prompt: g.prompt,
    chatTemplate: g.chatTemplate,
    maxNewTokens: g.maxNewTokens,
    temperature: g.temperature,
    topP: g.topP,
    seed: g.seed,
    executionProvider: g.executionProvider.toLowerCase() as ExecutionProvider,
  };
}

export function generationJobs(
  deps: GenerationJobsDeps,
): JobDefinition<'generation', GenerationSpec, GenerationProgress> {
  const { db, publisher } = deps;
  return {
    kind: 'generation',
    runnerModule: path.join(__dirname, 'runner'),
    plan: async (_m, g) => specOf(g),
    where: (spec) => spec.executionProvider,
    open: (g) => {
      let index = 0;
      return {
        handle: async (message) => {
          if (message.type === 'started') {
            await db.query(`UPDATE generations SET prompt_tokens = $2 WHERE id = $1`, [
              g.id,
              message.promptTokens,
            ]);
          } else if (message.type === 'text') {
            await publisher.publishGenerationDelta({
              type: 'generation-delta',
              generationId: g.id,
              index: index++,
              text: message.text,
              generatedTokens: message.generatedTokens,
            });
          } else {
            // Text cut short by a shutdown is not kept: the next run generates it whole. A cancellation's
            // record is cancel_requested_at, set before the worker was asked to stop.
            const r = message.result;
            await db.query(
              `UPDATE generations SET text = $2, generated_tokens = $3, finish_reason = $4, updated_at = now()
                WHERE id = $1 AND ($4 <> 'CANCELLED' OR cancel_requested_at IS NOT NULL)`,
              [g.id, r.text, r.generatedTokens, r.finishReason],
            );
          }
        },
      };
    },
    announce: (t) => publisher.publishGenerationStatus(generationStatusEvent(t.job)),
  };
}
