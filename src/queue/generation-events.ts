/**
 * Live events of generations, on the generation's channel (jobChannel in events.ts; ids are unique across kinds):
 * each piece of text as it is decoded, and status changes. The pieces are also kept in a Redis list for a while,
 * so a subscriber that arrives late reads what it missed.
 */
import type { GenerationEntity, JobStatus } from '../db/entities';

export interface GenerationDeltaPayload {
  type: 'generation-delta';
  generationId: string;
  /** Position of the piece (0-based); the list's index too. */
  index: number;
  text: string;
  /** Tokens generated so far. */
  generatedTokens: number;
}

export interface GenerationStatusPayload {
  type: 'generation-status';
  generationId: string;
  projectId: string;
  status: JobStatus;
  at: string;
}

export type GenerationEventPayload = GenerationDeltaPayload | GenerationStatusPayload;

export function generationDeltasKey(prefix: string, generationId: string): string {
  return `${prefix}:generation:${generationId}:deltas`;
}

/** A generation's status change, as it is announced (by the API or a worker). */
export function generationStatusEvent(
  g: Pick<GenerationEntity, 'id' | 'projectId' | 'status'>,
): GenerationStatusPayload {
  return {
    type: 'generation-status',
    generationId: g.id,
    projectId: g.projectId,
    status: g.status,
    at: new Date().toISOString(),
  };
}
