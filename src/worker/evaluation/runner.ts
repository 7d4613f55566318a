/**
 * The child process that runs one evaluation (src/worker/child.ts serves it): it scores batch after batch, and
 * sends each batch's samples to the worker, starting the next batch once the worker has stored them.
 */
import { runEvaluation, type EvaluationRunSpec } from '../../evaluation/run-evaluation';
import { serveJob } from '../child';
import type { EvaluationProgress } from './messages';

serveJob<EvaluationRunSpec, EvaluationProgress>(async (spec, io) => {
  const { stopped } = await runEvaluation(spec, {
    onStart: (info) => io.send({ type: 'started', total: info.total, skipped: info.skipped.length }),
    onBatch: (samples) => io.send({ type: 'samples', samples }),
    shouldStop: io.shouldStop,
  });
  return { stopped };
});
