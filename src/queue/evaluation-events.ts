/**
 * Live events of evaluation jobs, on the job's channel (jobChannel in events.ts; ids are unique across job kinds):
 * progress as samples are stored, and status changes.
 */
import type { JobStatus } from '../db/entities';

export interface EvaluationSamplesEventPayload {
  type: 'evaluation-samples';
  jobId: string;
  projectId: string;
  samplesDone: number;
  samplesTotal: number;
  at: string;
}

export interface EvaluationStatusEventPayload {
  type: 'evaluation-status';
  jobId: string;
  projectId: string;
  status: JobStatus;
  previousStatus: JobStatus | null;
  error: string | null;
  at: string;
}

export type EvaluationEventPayload = EvaluationSamplesEventPayload | EvaluationStatusEventPayload;

/** An evaluation job's status change, as it is announced (by the API or a worker). */
export function evaluationStatusEvent(t: {
  job: { id: string; projectId: string; status: JobStatus; error: string | null };
  previousStatus: JobStatus | null;
}): EvaluationStatusEventPayload {
  return {
    type: 'evaluation-status',
    jobId: t.job.id,
    projectId: t.job.projectId,
    status: t.job.status,
    previousStatus: t.previousStatus,
    error: t.job.error,
    at: new Date().toISOString(),
  };
}
