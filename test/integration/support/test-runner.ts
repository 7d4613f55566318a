/**
 * A kind's job runner in the test process, built as a worker builds it (its job processes are real children):
 * `handle` gives it a job as Bull does, `cancel` does what the worker's cancel channel does for a running job, and
 * `pids` lists the job processes its runs started, in order.
 */
import type Bull from 'bull';
import type { DataSource } from 'typeorm';
import type { JobKind } from '../../../src/db/job-status';
import { JobRunner, type JobDefinition } from '../../../src/worker/job-runner';

export interface TestRunner<K extends JobKind, Spec, Progress extends { type: string }> {
  runner: JobRunner<K, Spec, Progress>;
  handle(jobId: string): Promise<void>;
  cancel(jobId: string): void;
  pids: number[];
}

export function testRunner<K extends JobKind, Spec, Progress extends { type: string }>(
  def: JobDefinition<K, Spec, Progress>,
  db: DataSource,
  maxAttempts = 3,
): TestRunner<K, Spec, Progress> {
  const cancels = new Map<string, () => void>();
  const pids: number[] = [];
  const runner = new JobRunner(def, {
    db,
    workerId: 'test-worker',
    maxAttempts,
    onCancel: (jobId, cb) => {
      cancels.set(jobId, cb);
      return () => cancels.delete(jobId);
    },
    log: (m: string) => {
      const pid = m.match(/running in process (\d+)/)?.[1];
      if (pid) pids.push(Number(pid));
    },
  });
  return {
    runner,
    handle: (jobId) => runner.handle({ data: { jobId } } as Bull.Job<{ jobId: string }>),
    cancel: (jobId) => cancels.get(jobId)?.(),
    pids,
  };
}
