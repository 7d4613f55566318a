/** Value sets stored in text columns (checked by constraints in the migrations) and exposed as GraphQL enums. */

export enum ApiKeyRole {
  ADMIN = 'ADMIN',
  MEMBER = 'MEMBER',
}

export enum DatasetKind {
  SFT = 'SFT',
  PREFERENCE = 'PREFERENCE',
  PROMPT_ONLY = 'PROMPT_ONLY',
}

export enum DatasetSplit {
  TRAIN = 'TRAIN',
  VALIDATION = 'VALIDATION',
}

export enum TrainingMethod {
  SFT = 'SFT',
  REWARD_MODEL = 'REWARD_MODEL',
  DPO = 'DPO',
  RL = 'RL',
}

export enum ParameterScale {
  FULL = 'FULL',
  LORA = 'LORA',
  PROMPT_TUNING = 'PROMPT_TUNING',
}

/** The status of every kind of job (training, evaluation); src/db/job-status.ts has the state machine. */
export enum JobStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}

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
