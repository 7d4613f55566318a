/** An evaluation runner's progress messages (src/worker/protocol.ts has the rest of the protocol). */
import type { ScoredSample } from '../../evaluation/run-evaluation';

export type EvaluationProgress =
  /** The rows are tokenized: `total` of the given rows will be scored, `skipped` cannot be. */
  { type: 'started'; total: number; skipped: number } | { type: 'samples'; samples: ScoredSample[] };
