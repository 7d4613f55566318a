/**
 * Live events of evaluation jobs, on the job's channel (jobChannel in events.ts; ids are unique across job kinds):
 * progress as samples are stored, and status changes.
 */
import type { EvaluationJobStatus } from '../db/entities';

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
  status: EvaluationJobStatus;
  previousStatus: EvaluationJobStatus | null;
  error: string | null;
  at: string;
}

export type EvaluationEventPayload = EvaluationSamplesEventPayload | EvaluationStatusEventPayload;
