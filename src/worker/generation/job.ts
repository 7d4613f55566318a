/**
 * Generations for the job runner: a run stores the tokens of each piece of text as the child decodes it, then
 * publishes the piece (Redis, for the generationStream subscribers), and stores the whole text when it ends,
 * SUCCEEDED or CANCELLED with the text so far. A run after one whose process died (retried), whose worker died
 * (taken over) or that a shutdown requeued continues after the stored tokens (generate.ts): what was handed out is
 * kept, not generated again, and a subscriber's stream goes on at the next piece. (A worker that dies between
 * storing a piece and publishing it leaves that piece out of the live stream; the final text has it.)
 */
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { GenerationEntity } from '../../db/entities';
import { queryRows } from '../../db/query';
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
    kept: g.generatedIds,
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
    open: (g, run) => {
      return {
        handle: async (message) => {
          if (message.type === 'started') {
            await db.query(`UPDATE generations SET prompt_tokens = $2 WHERE id = $1`, [
              g.id,
              message.promptTokens,
            ]);
          } else if (message.type === 'text') {
            const [row] = await queryRows<{ cancel_requested_at: Date | null }>(
              db,
              `UPDATE generations SET generated_ids = generated_ids || $2::int[], updated_at = now() WHERE id = $1
               RETURNING cancel_requested_at`,
              [g.id, message.ids],
            );
            // The database is the cancellation's record; a missed Redis message still stops the run here.
            if (row.cancel_requested_at) run.stop('cancel');
            await publisher.publishGenerationDelta({
              type: 'generation-delta',
              generationId: g.id,
              index: message.index,
              text: message.text,
              generatedTokens: message.generatedTokens,
            });
          } else {
            // The text of a run cut short by a shutdown is not the end: the next run continues it. A
            // cancellation's record is cancel_requested_at, set before the worker was asked to stop.
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
