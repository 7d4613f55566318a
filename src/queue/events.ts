/**
 * Live job events. Workers (and the API, for status changes it makes itself) publish them to Redis pub/sub; every
 * API process relays them to its own subscribers. Channels: one per job (step and status events) and one per
 * project (status events only).
 */
import type { JobStatus } from '../db/entities';
import type { StepNumbers } from '../training/progress';

/** A step's numbers (src/training/progress.ts: STEP_FIELDS) with where they belong. */
export interface StepEventPayload extends StepNumbers {
  type: 'step';
  jobId: string;
  projectId: string;
  extra: Record<string, number> | null;
  /** ISO time of publication (for measuring delivery delay). */
  at: string;
}

export interface StatusEventPayload {
  type: 'status';
  jobId: string;
  projectId: string;
  name: string;
  status: JobStatus;
  previousStatus: JobStatus | null;
  error: string | null;
  at: string;
}

export type JobEventPayload = StepEventPayload | StatusEventPayload;

/** A training job's status change, as it is announced (by the API, a worker, or the queue giving up on a job). */
export function statusEvent(t: {
  job: { id: string; projectId: string; name: string; status: JobStatus; error: string | null };
  previousStatus: JobStatus | null;
}): StatusEventPayload {
  return {
    type: 'status',
    jobId: t.job.id,
    projectId: t.job.projectId,
    name: t.job.name,
    status: t.job.status,
    previousStatus: t.previousStatus,
    error: t.job.error,
    at: new Date().toISOString(),
  };
}

export function jobChannel(prefix: string, jobId: string): string {
  return `${prefix}:events:job:${jobId}`;
}

export function projectStatusChannel(prefix: string, projectId: string): string {
  return `${prefix}:events:project:${projectId}:status`;
}

/** Worker-side channel that carries cancellation requests to whichever worker runs the job. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:control:cancel`;
}

/** API processes forget a revoked API key when its id arrives here. */
export function apiKeyRevokedChannel(prefix: string): string {
  return `${prefix}:control:api-key-revoked`;
}

/** The latest step event of a job, kept so a new subscriber's snapshot is not behind the batched metric writes. */
export function latestStepKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:latest-step`;
}
