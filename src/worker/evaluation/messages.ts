/** The IPC protocol between a worker and the child process that runs one evaluation. */
import type { EvaluationRunSpec, ScoredSample } from '../../evaluation/run-evaluation';

export type ToEvaluationRunner =
  | { type: 'start'; spec: EvaluationRunSpec }
  | { type: 'stop' }
  /** The last batch of samples is stored: the runner generates the next one only then. */
  | { type: 'stored' };

export type FromEvaluationRunner =
  /** The rows are tokenized: `total` of the given rows will be scored, `skipped` cannot be. */
  | { type: 'started'; total: number; skipped: number }
  | { type: 'samples'; samples: ScoredSample[] }
  /** `stopped`: a stop request ended the run before every sample was scored. */
  | { type: 'done'; stopped: boolean }
  | { type: 'failed'; message: string };
