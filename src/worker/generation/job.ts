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
import { appendGeneratedIds, setPromptTokens, storeGenerationResult } from '../../db/store/jobs';
import { generationStatusEvent } from '../../queue/generation-events';
import type { EventPublisher } from '../../queue/publisher';
import type { JobDefinition } from '../job-runner';
import type { GenerationSpec } from './generate';
import type { GenerationProgress } from './messages';
import { engineName } from '../../vocabulary';

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
    executionProvider: engineName(g.executionProvider),
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
            await setPromptTokens(db, g.id, message.promptTokens);
          } else if (message.type === 'text') {
            const row = await appendGeneratedIds(db, g.id, message.ids);
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
            // The text of a run cut short by a shutdown is not the end: the next run continues it.
            await storeGenerationResult(db, g.id, message.result);
          }
        },
      };
    },
    announce: (t) => publisher.publishGenerationStatus(generationStatusEvent(t.job)),
  };
}
