/**
 * Runs one queued job of any kind in a child process, the same way for every kind: claims it (QUEUED -> RUNNING,
 * or a takeover of a RUNNING job whose worker died), forks the kind's runner, hands the runner's messages to the
 * kind one after another (so what a message stores follows what the messages before it stored, and the final
 * status follows everything), relays stop requests (cancel, shutdown), and settles the final status. Each run is
 * an attempt (`job_attempts`), ended with its outcome and cause. Failures of the job itself end as FAILED. A
 * process that dies (killed, out of memory) or whose results cannot be stored is retried up to
 * WHETSTONE_JOB_ATTEMPTS runs, then FAILED (resumable). Retries and worker shutdown put the job back in the
 * queue and throw, so that Bull hands it on (after its backoff), and the next run continues from what the run
 * stored (its last checkpoint, or the start; its scored samples).
 */
import { fork, type ChildProcess, type Serializable } from 'node:child_process';
import type Bull from 'bull';
import type { DataSource, EntityManager } from 'typeorm';
import { AttemptOutcome, JobStatus as S } from '../db/entities';
import type { JobEntity, JobKind } from '../db/job-status';
import { endAttempt, startAttempt } from '../db/store/job-attempts';
import { transitionJob, type Transition, type TransitionPatch } from '../db/store/jobs';
import { describeExit, describeFailure, watchMemory, type ExitCause } from './exit-cause';
import { runnableModule } from '../util/runnable-module';
import { sessionProcessEnv } from '../engine/allocator';
import type { FromRunner, RunEnd, StopReason, ToRunner } from './protocol';

/** What the runner needs to know of one kind of job. */
export interface JobDefinition<K extends JobKind, Spec, Progress extends { type: string }> {
  kind: K;
  /** The child's module, a path without extension (compiled .js, or .ts through tsx in tests and dev). */
  runnerModule: string;
  /** Columns the claim sets besides the shared ones. */
  claimPatch?(jobId: string): TransitionPatch;
  /** What the run needs, read in the claim's transaction (and whatever the claim resets). */
  plan(m: EntityManager, job: JobEntity<K>): Promise<Spec>;
  /** Where the run executes, for the log. */
  where(spec: Spec): string;
  /** The handling of one run's progress messages. */
  open(job: JobEntity<K>, run: RunControl): RunSession<Progress>;
  /** Set and done with SUCCEEDED, in its transaction. */
  succeeded?: { patch?: TransitionPatch; also?(m: EntityManager, jobId: string): Promise<void> };
  announce(t: Transition<K>): Promise<void>;
}

export interface RunControl {
  stop(reason: StopReason): void;
}

export interface RunSession<Progress> {
  handle(message: Progress): Promise<void>;
  /** After the child exited and every message is handled (flush what is buffered). */
  drain?(): Promise<void>;
  close?(): void;
}

export interface JobRunnerDeps {
  db: DataSource;
  workerId: string;
  /** Runs of a job whose process keeps dying before the job is FAILED (WHETSTONE_JOB_ATTEMPTS). */
  maxAttempts: number;
  /** Registers a callback for cancellation requests of one job; returns the unregistration. */
  onCancel(jobId: string, cb: () => void): () => void;
  log(message: string, err?: unknown): void;
}

/** Thrown when the worker stops mid-job: the job goes back to the queue for another worker. */
export class PreemptedError extends Error {}

/** Thrown when a run's process died and the job has attempts left: it is back in the queue. */
export class RetryError extends Error {}

/** A running job this worker can be asked to stop (for shutdown). */
export interface ActiveRun {
  jobId: string;
  stop(reason: StopReason): void;
  finished: Promise<void>;
}

type Outcome = RunEnd | ({ type: 'crashed' } & ExitCause);

/** One attempt's end, stored with the status it settles. */
interface AttemptEnd {
  number: number;
  outcome: AttemptOutcome;
  cause: string | null;
}

/** Starts a runner module in a child process. */
function forkRunner(runnerModule: string): ChildProcess {
  const { file, execArgv } = runnableModule(runnerModule);
  return fork(file, [], {
    execArgv,
    env: sessionProcessEnv(),
    // Rows and metrics are plain JSON, but structured clone spares a JSON round trip of large datasets.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export class JobRunner<K extends JobKind, Spec, Progress extends { type: string }> {
  private readonly active = new Map<string, ActiveRun>();

  constructor(
    private readonly def: JobDefinition<K, Spec, Progress>,
    private readonly deps: JobRunnerDeps,
  ) {}

  activeRuns(): ActiveRun[] {
    return [...this.active.values()];
  }

  /** The Bull handler of the kind's queue. */
  readonly handle = async (bullJob: Bull.Job<{ jobId: string }>): Promise<void> => {
    const { db, workerId } = this.deps;
    const { kind } = this.def;
    const jobId = bullJob.data.jobId;
    const claim = await db.transaction(async (m) => {
      const t = await transitionJob(
        m,
        jobId,
        [S.QUEUED, S.RUNNING],
        S.RUNNING,
        {
          attempts: 'increment',
          worker_id: workerId,
          started_at: 'first',
          ...this.def.claimPatch?.(jobId),
        },
        undefined,
        kind,
      );
      if (!t) return null;
      await startAttempt(m, kind, t.job.id, t.job.attempts, workerId);
      return { ...t, spec: await this.def.plan(m, t.job) };
    });
    if (!claim) {
      this.deps.log(`${kind} job ${jobId}: not QUEUED or RUNNING any more; skipped`);
      return;
    }
    if (claim.previousStatus !== S.RUNNING) await this.def.announce(claim);
    const attempt = claim.job.attempts;
    if (claim.job.cancelRequestedAt) {
      await this.settle(jobId, S.CANCELLED, { finished_at: 'now' }, this.ended(attempt, 'CANCELLED'));
      return;
    }
    await this.run(claim.job, claim.spec);
  };

  private ended(
    number: number,
    outcome: keyof typeof AttemptOutcome,
    cause: string | null = null,
  ): AttemptEnd {
    return { number, outcome: AttemptOutcome[outcome], cause };
  }

  private async run(job: JobEntity<K>, spec: Spec): Promise<void> {
    const { kind } = this.def;
    const jobId = job.id;
    const child = forkRunner(this.def.runnerModule);
    this.deps.log(`${kind} job ${jobId}: running in process ${child.pid} on ${this.def.where(spec)}`);
    const memory = child.pid === undefined ? null : watchMemory(child.pid);
    // A message to a process that has just died fails (EPIPE): its exit, not the failed write, ends the run.
    const send = (message: ToRunner<Spec>) => {
      if (child.connected) child.send(message as Serializable, () => undefined);
    };
    let stopReason: StopReason | null = null;
    const stop = (reason: StopReason) => {
      if (stopReason === 'shutdown') return;
      stopReason = reason;
      send({ type: 'stop', reason });
    };
    const session = this.def.open(job, { stop });
    const unregister = this.deps.onCancel(jobId, () => stop('cancel'));
    let chain: Promise<void> = Promise.resolve();
    let outcome: Outcome | null = null;
    child.on('message', (message: FromRunner<Progress>) => {
      chain = chain.then(async () => {
        if (outcome) return;
        if (message.type === 'done' || message.type === 'failed') {
          outcome = message as RunEnd;
          return;
        }
        try {
          await session.handle(message as Progress);
          send({ type: 'handled' });
        } catch (err) {
          // The run is of no use beyond results that cannot be stored: it ends, and the job is retried.
          this.deps.log(`${kind} job ${jobId}: storing results failed`, err);
          const cause = `storing results failed: ${(err as Error).message}`;
          outcome = { type: 'crashed', outcome: AttemptOutcome.CRASHED, cause };
          child.kill('SIGKILL');
        }
      });
    });
    let finishRun!: () => void;
    this.active.set(jobId, { jobId, stop, finished: new Promise((r) => (finishRun = r)) });
    try {
      const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve({ code, signal }));
        send({ type: 'start', spec });
      });
      const evidence = memory?.stop() ?? { peakRssBytes: null, oomKills: null, limitBytes: null };
      await chain;
      await session.drain?.();
      const end: Outcome = outcome ?? { type: 'crashed', ...describeExit(kind, exit, evidence) };
      await this.finish(job, end, stopReason);
    } finally {
      memory?.stop();
      unregister();
      session.close?.();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      this.active.delete(jobId);
      finishRun();
    }
  }

  private async finish(job: JobEntity<K>, outcome: Outcome, stopReason: StopReason | null): Promise<void> {
    const { kind } = this.def;
    const { id: jobId, attempts: attempt } = job;
    const completed = outcome.type === 'done' && !outcome.stopped;
    if (stopReason === 'shutdown' && !completed) {
      const cause = 'the worker shut down; the job went back to the queue';
      await this.settle(jobId, S.QUEUED, { worker_id: null }, this.ended(attempt, 'PREEMPTED', cause));
      throw new PreemptedError(`${kind} job ${jobId}: worker shutting down; continues elsewhere`);
    }
    if (outcome.type === 'done') {
      if (outcome.stopped)
        await this.settle(jobId, S.CANCELLED, { finished_at: 'now' }, this.ended(attempt, 'CANCELLED'));
      else
        await this.settle(
          jobId,
          S.SUCCEEDED,
          { finished_at: 'now', ...this.def.succeeded?.patch },
          this.ended(attempt, 'SUCCEEDED'),
          this.def.succeeded?.also,
        );
      return;
    }
    const crash =
      outcome.type === 'crashed' ? outcome : outcome.userInput ? null : describeFailure(outcome.message);
    if (!crash) {
      const message = (outcome as { message: string }).message;
      await this.settle(
        jobId,
        S.FAILED,
        { finished_at: 'now', error: message },
        this.ended(attempt, 'FAILED', message),
      );
      return;
    }
    const end = { number: attempt, outcome: crash.outcome, cause: crash.cause };
    const crashes = job.crashes + 1;
    if (crashes < this.deps.maxAttempts) {
      await this.settle(jobId, S.QUEUED, { worker_id: null, crashes: 'increment' }, end);
      throw new RetryError(
        `${kind} job ${jobId}: ${crash.cause}; retried (${crashes} of ${this.deps.maxAttempts})`,
      );
    }
    const error = `${crash.cause} (${crashes} of ${this.deps.maxAttempts} attempts; resumable)`;
    await this.settle(jobId, S.FAILED, { finished_at: 'now', error, crashes: 'increment' }, end);
  }

  /**
   * Marks a job FAILED when the queue gives up on it (retries spent, or its workers keep dying): a job left
   * RUNNING or QUEUED would never move again.
   */
  async giveUp(jobId: string, reason: string): Promise<void> {
    const t = await this.deps.db.transaction(async (m) => {
      const moved = await transitionJob(
        m,
        jobId,
        [S.RUNNING, S.QUEUED],
        S.FAILED,
        { finished_at: 'now', error: `given up by the queue: ${reason}` },
        undefined,
        this.def.kind,
      );
      if (moved) await endAttempt(m, jobId, { outcome: AttemptOutcome.WORKER_LOST, cause: reason });
      return moved;
    });
    if (t) await this.def.announce(t);
  }

  /**
   * Moves the job (held by this worker) from RUNNING to `to` and ends its attempt, and runs `also`, in one
   * transaction.
   */
  private async settle(
    jobId: string,
    to: S,
    patch: TransitionPatch,
    attempt: AttemptEnd,
    also?: (m: EntityManager, jobId: string) => Promise<void>,
  ): Promise<void> {
    const t = await this.deps.db.transaction(async (m) => {
      const moved = await transitionJob(m, jobId, [S.RUNNING], to, patch, this.deps.workerId, this.def.kind);
      if (!moved) return null;
      await endAttempt(m, jobId, attempt);
      await also?.(m, jobId);
      return moved;
    });
    if (!t) {
      this.deps.log(`${this.def.kind} job ${jobId}: no longer held by this worker; left as it is`);
      return;
    }
    await this.def.announce(t);
  }
}
