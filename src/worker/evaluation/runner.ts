/**
 * The child process that runs one evaluation (src/worker/child.ts serves it). It scores batch after batch and
 * sends each batch's samples to the worker, and starts the next batch once the worker has stored them, so it is
 * never more than a batch ahead of the database and a stop request (always sent before that acknowledgement)
 * ends the run at the batch it arrived in.
 */
import { runEvaluation, type EvaluationRunSpec } from '../../evaluation/run-evaluation';
import { serveJob } from '../child';
import type { EvaluationAck, EvaluationProgress } from './messages';

serveJob<EvaluationRunSpec, EvaluationProgress, EvaluationAck>(async (spec, io) => {
  let acknowledge: (() => void) | null = null;
  io.onAck(() => acknowledge?.());
  const { stopped } = await runEvaluation(spec, {
    onStart: (info) => io.send({ type: 'started', total: info.total, skipped: info.skipped.length }),
    onBatch: async (samples) => {
      const stored = new Promise<void>((resolve) => (acknowledge = resolve));
      await io.send({ type: 'samples', samples });
      await stored;
    },
    shouldStop: io.shouldStop,
  });
  return { stopped };
});
