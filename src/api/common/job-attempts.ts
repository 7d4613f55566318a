/** Each run of a job's process as the API shows it: one type for training and evaluation jobs. */
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AttemptOutcome } from '../../db/entities';

registerEnumType(AttemptOutcome, {
  name: 'JobAttemptOutcome',
  description: 'How one run of a job ended.',
  valuesConfig: {
    SUCCEEDED: { description: 'The job finished.' },
    FAILED: { description: 'The job failed by its own fault (see `cause`); not retried.' },
    CANCELLED: { description: 'Stopped on request.' },
    PREEMPTED: { description: 'The worker shut down; the job went back to the queue.' },
    CRASHED: { description: 'The process died or its results could not be stored; retried.' },
    OUT_OF_MEMORY: { description: 'The process ran out of memory (OOM killer, failed allocation); retried.' },
    WORKER_LOST: { description: 'The worker died; another worker took the job over.' },
  },
});

@ObjectType('JobAttempt', { description: 'One run of a job: who ran it, when, and how and why it ended.' })
export class JobAttempt {
  @Field(() => Int, { description: '1, 2, ...: the order of the runs.' })
  number: number;

  @Field({ description: 'The worker (host:pid) that ran it.' })
  workerId: string;

  @Field({ description: 'When the run started.' })
  startedAt: Date;

  @Field(() => Date, { nullable: true, description: 'When it ended; null while it runs.' })
  endedAt: Date | null;

  @Field(() => AttemptOutcome, { nullable: true, description: 'How it ended; null while it runs.' })
  outcome: AttemptOutcome | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Why it ended: the error, or how the process died (signal or exit code, out-of-memory evidence).',
  })
  cause: string | null;
}

export const ATTEMPT_HISTORY = {
  description: 'Every run of the job, in order, with its outcome and cause.',
};
