/**
 * Value sets stored in text columns and exposed as GraphQL enums, derived from src/vocabulary.ts (a test checks
 * the migrations' CHECK lists against it). Each is a const object used like a string enum, and a type.
 */
import {
  API_KEY_ROLES,
  DATASET_KINDS,
  DATASET_SPLITS,
  JOB_STATUSES,
  METHOD_NAMES,
  SCALE_NAMES,
  wordsOf,
} from '../../vocabulary';

type Word<O> = O[keyof O];

export const ApiKeyRole = wordsOf(API_KEY_ROLES);
export type ApiKeyRole = Word<typeof ApiKeyRole>;

export const DatasetKind = wordsOf(DATASET_KINDS);
export type DatasetKind = Word<typeof DatasetKind>;

export const DatasetSplit = wordsOf(DATASET_SPLITS);
export type DatasetSplit = Word<typeof DatasetSplit>;

export const TrainingMethod = wordsOf(METHOD_NAMES);
export type TrainingMethod = Word<typeof TrainingMethod>;

export const ParameterScale = wordsOf(SCALE_NAMES);
export type ParameterScale = Word<typeof ParameterScale>;

/** The status of every kind of job (training, evaluation); src/db/job-status.ts has the state machine. */
export const JobStatus = wordsOf(JOB_STATUSES);
export type JobStatus = Word<typeof JobStatus>;

export const TERMINAL_STATUSES: readonly JobStatus[] = [
  JobStatus.SUCCEEDED,
  JobStatus.FAILED,
  JobStatus.CANCELLED,
];

/** How one attempt (one run of a job's process) ended: `job_attempts.outcome`. */
export enum AttemptOutcome {
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
  /** The worker shut down; the job went back to the queue. */
  PREEMPTED = 'PREEMPTED',
  /** The process died, or its results could not be stored; retried. */
  CRASHED = 'CRASHED',
  /** The process ran out of memory (killed by the OOM killer, or an allocation failed); retried. */
  OUT_OF_MEMORY = 'OUT_OF_MEMORY',
  /** The worker died; another worker took the job over. */
  WORKER_LOST = 'WORKER_LOST',
}
