/** An evaluation runner's progress messages and acknowledgement (src/worker/protocol.ts has the rest). */
import type { ScoredSample } from '../../evaluation/run-evaluation';

export type EvaluationProgress =
  /** The rows are tokenized: `total` of the given rows will be scored, `skipped` cannot be. */
  { type: 'started'; total: number; skipped: number } | { type: 'samples'; samples: ScoredSample[] };

/** The last batch of samples is stored: the runner generates the next one only then. */
export type EvaluationAck = { type: 'stored' };
