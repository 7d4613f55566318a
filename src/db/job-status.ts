/**
 * The job state machine, one for every kind of job (training, evaluation, generation), and each kind's table. Every
 * status change goes through `transitionJob` (src/db/store/jobs.ts, the one writer of the job tables), which
 * checks it against this.
 *
 *   QUEUED ──> RUNNING ──> SUCCEEDED | FAILED | CANCELLED
 *     │          │  ↺ (a worker takes over a job whose worker died)
 *     │          └──> QUEUED (the worker shut down, or the job's process died and is retried; another run
 *     │                       continues from the last checkpoint, or from the samples stored)
 *     └──> CANCELLED
 *   FAILED | CANCELLED ──> QUEUED (resumed)
 */
import {
  EvaluationJobEntity,
  GenerationEntity,
  JobStatus as S,
  TERMINAL_STATUSES,
  TrainingJobEntity,
} from './entities';

const ALLOWED: Record<S, readonly S[]> = {
  [S.QUEUED]: [S.RUNNING, S.CANCELLED],
  [S.RUNNING]: [S.RUNNING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLED],
  [S.SUCCEEDED]: [],
  [S.FAILED]: [S.QUEUED],
  [S.CANCELLED]: [S.QUEUED],
};

export function canTransition(from: S, to: S): boolean {
  return ALLOWED[from].includes(to);
}

/**
 * What a user may ask of a job in each status, read from the machine (the cancel and resume mutations move jobs
 * through these, and the API's `canCancel` / `canResume` fields answer them): cancel from every status that can
 * reach CANCELLED; resume from every final status that can go back to QUEUED (RUNNING -> QUEUED is a worker giving
 * a job back, not a resume).
 */
export const CANCELLABLE_STATUSES: readonly S[] = Object.values(S).filter((s) =>
  canTransition(s, S.CANCELLED),
);
export const RESUMABLE_STATUSES: readonly S[] = TERMINAL_STATUSES.filter((s) => canTransition(s, S.QUEUED));

export const canCancel = (status: S): boolean => CANCELLABLE_STATUSES.includes(status);
export const canResume = (status: S): boolean => RESUMABLE_STATUSES.includes(status);

/** Each kind of job: its table and entity. */
const KINDS = {
  training: { table: 'training_jobs', entity: TrainingJobEntity },
  evaluation: { table: 'evaluation_jobs', entity: EvaluationJobEntity },
  generation: { table: 'generations', entity: GenerationEntity },
} as const;

export type JobKind = keyof typeof KINDS;

export type JobEntity<K extends JobKind> = InstanceType<(typeof KINDS)[K]['entity']>;

export function jobTable(kind: JobKind): string {
  return KINDS[kind].table;
}

export function jobEntity<K extends JobKind>(kind: K): (typeof KINDS)[K]['entity'] {
  return KINDS[kind].entity;
}
