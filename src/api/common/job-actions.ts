/**
 * What a caller may do with a job now, as every kind's GraphQL type says it (`canCancel`, `canResume`): the job
 * state machine's answer (src/db/job-status.ts), the same lists the cancel and resume mutations move jobs from. A
 * client reads these instead of knowing the machine.
 */
import { CANCELLABLE_STATUSES, RESUMABLE_STATUSES } from '../../db/job-status';

/** "FAILED or CANCELLED": statuses as descriptions and messages name them. */
export const either = (statuses: readonly string[]): string => statuses.join(' or ');

/** The options of a `canCancel` field of the type that `mutation` cancels. */
export const canCancelField = (mutation: string) => ({
  description: `Whether ${mutation} stops it now: true while ${either(CANCELLABLE_STATUSES)} (asking again once cancellation was requested is harmless); false once it is final (CONFLICT, or the CANCELLED job as it is).`,
});

/** The options of a `canResume` field of the type that `mutation` resumes. */
export const canResumeField = (mutation: string) => ({
  description: `Whether ${mutation} queues it again now: true when ${either(RESUMABLE_STATUSES)}; false otherwise (CONFLICT).`,
});
