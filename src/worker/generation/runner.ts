/**
 * The child process that runs one generation (src/worker/child.ts serves it): each piece of text goes to the
 * worker as it is decoded, the whole text at the end; a stop request ends it after the current token.
 */
import { serveJob } from '../child';
import { runGeneration, type GenerationSpec } from './generate';
import type { GenerationProgress } from './messages';

serveJob<GenerationSpec, GenerationProgress>(async (spec, io) => {
  const result = await runGeneration(spec, {
    onStart: ({ promptTokens }) => io.send({ type: 'started', promptTokens }),
    onText: (piece) => io.send({ type: 'text', ...piece }),
    shouldStop: io.shouldStop,
  });
  await io.send({ type: 'result', result });
  return { stopped: result.finishReason === 'CANCELLED' };
});
