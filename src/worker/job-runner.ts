/**
 * Runs one queued job of any kind in a child process, the same way for every kind: claims it (QUEUED -> RUNNING,
 * or a takeover of a RUNNING job whose worker died), forks the kind's runner, hands the runner's messages to the
 * kind one after another (so what a message stores follows what the messages before it stored, and the final
 * status follows everything), relays stop requests (cancel, shutdown), and settles the final status. Failures of
 * the job itself end as FAILED; worker shutdown puts the job back in the queue and throws, so that Bull hands it
 * to another worker, which continues from what the run stored (its last checkpoint, its scored samples).
 */
import { fork, type ChildProcess, type Serializable } from 'node:child_process';
import type Bull from 'bull';
import type { DataSource, EntityManager } from 'typeorm';
import { JobStatus as S } from '../db/entities';
import {
  transitionJob,
  type JobEntity,
  type JobKind,
  type Transition,
  type TransitionPatch,
} from '../db/job-status';
import type { FromRunner, RunEnd, StopReason, ToRunner } from './protocol';

/** What the runner needs to know of one kind of job. */
export interface JobDefinition<K extends JobKind, Spec, Progress extends { type: string }, Ack = never> {
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
  open(job: JobEntity<K>, run: RunControl<Ack>): RunSession<Progress>;
  /** Set and done with SUCCEEDED, in its transaction. */
  succeeded?: { patch?: TransitionPatch; also?(m: EntityManager, jobId: string): Promise<void> };
  announce(t: Transition<K>): Promise<void>;
}

export interface RunControl<Ack> {
  stop(reason: StopReason): void;
  /** Sends an acknowledgement to the child (while it is connected). */
  ack(message: Ack): void;
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
  /** Registers a callback for cancellation requests of one job; returns the unregistration. */
  onCancel(jobId: string, cb: () => void): () => void;
  log(message: string, err?: unknown): void;
}

/** Thrown when the worker stops mid-job: the job goes back to the queue for another worker. */
export class PreemptedError extends Error {}

/** A running job this worker can be asked to stop (for shutdown). */
export interface ActiveRun {
  jobId: string;
  stop(reason: StopReason): void;
  finished: Promise<void>;
}

type Outcome = RunEnd | { type: 'crashed'; code: number | null; signal: string | null };

/** Starts a runner module in a child process: compiled JavaScript as is, TypeScript sources through tsx. */
function forkRunner(runnerModule: string): ChildProcess {
  const fromSources = __filename.endsWith('.ts');
  return fork(runnerModule + (fromSources ? '.ts' : '.js'), [], {
    execArgv: fromSources ? ['--require', 'tsx/cjs'] : [],
    // Rows and metrics are plain JSON, but structured clone spares a JSON round trip of large datasets.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export class JobRunner<K extends JobKind, Spec, Progress extends { type: string }, Ack = never> {
  private readonly active = new Map<string, ActiveRun>();

  constructor(
    private readonly def: JobDefinition<K, Spec, Progress, Ack>,
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
      return t && { ...t, spec: await this.def.plan(m, t.job) };
    });
    if (!claim) {
      this.deps.log(`${kind} job ${jobId}: not QUEUED or RUNNING any more; skipped`);
      return;
    }
    if (claim.previousStatus !== S.RUNNING) await this.def.announce(claim);
    if (claim.job.cancelRequestedAt) {
      await this.settle(jobId, S.CANCELLED, { finished_at: 'now' });
      return;
    }
    await this.run(claim.job, claim.spec);
  };

  private async run(job: JobEntity<K>, spec: Spec): Promise<void> {
    const { kind } = this.def;
    const jobId = job.id;
    const child = forkRunner(this.def.runnerModule);
    this.deps.log(`${kind} job ${jobId}: running in process ${child.pid} on ${this.def.where(spec)}`);
    const send = (message: ToRunner<Spec, Ack>) => {
      if (child.connected) child.send(message as Serializable);
    };
    let stopReason: StopReason | null = null;
    const stop = (reason: StopReason) => {
      if (stopReason === 'shutdown') return;
      stopReason = reason;
      send({ type: 'stop', reason });
    };
    const session = this.def.open(job, { stop, ack: send });
    const unregister = this.deps.onCancel(jobId, () => stop('cancel'));
    let chain: Promise<void> = Promise.resolve();
    let outcome: Outcome | null = null;
    child.on('message', (message: FromRunner<Progress>) => {
      chain = chain.then(async () => {
        if (outcome?.type === 'failed') return;
        if (message.type === 'done' || message.type === 'failed') {
          outcome = message as RunEnd;
          return;
        }
        try {
          await session.handle(message as Progress);
        } catch (err) {
          // Results that cannot be stored fail the job; the run is of no use beyond this point.
          this.deps.log(`${kind} job ${jobId}: storing results failed`, err);
          outcome = {
            type: 'failed',
            message: `storing results failed: ${(err as Error).message}`,
            userInput: false,
          };
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
      await chain;
      await session.drain?.();
      await this.finish(jobId, outcome ?? { type: 'crashed', ...exit }, stopReason);
    } finally {
      unregister();
      session.close?.();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      this.active.delete(jobId);
      finishRun();
    }
  }

  private async finish(jobId: string, outcome: Outcome, stopReason: StopReason | null): Promise<void> {
    const { kind } = this.def;
    const completed = outcome.type === 'done' && !outcome.stopped;
    if (stopReason === 'shutdown' && !completed) {
      await this.settle(jobId, S.QUEUED, { worker_id: null });
      throw new PreemptedError(`${kind} job ${jobId}: worker shutting down; continues elsewhere`);
    }
    if (outcome.type === 'done') {
      if (outcome.stopped) await this.settle(jobId, S.CANCELLED, { finished_at: 'now' });
      else
        await this.settle(
          jobId,
          S.SUCCEEDED,
          { finished_at: 'now', ...this.def.succeeded?.patch },
          this.def.succeeded?.also,
        );
      return;
    }
    const message =
      outcome.type === 'failed'
        ? outcome.message
        : `the ${kind} process exited unexpectedly (code ${outcome.code}, signal ${outcome.signal})`;
    await this.settle(jobId, S.FAILED, { finished_at: 'now', error: message });
  }

  /** Marks a job FAILED when the queue gives up on it (retries spent, or its workers keep dying). */
  async giveUp(jobId: string, reason: string): Promise<void> {
    const t = await transitionJob(
      this.deps.db.manager,
      jobId,
      [S.RUNNING],
      S.FAILED,
      { finished_at: 'now', error: `given up by the queue: ${reason}` },
      undefined,
      this.def.kind,
    );
    if (t) await this.def.announce(t);
  }

  /** Moves the job (held by this worker) from RUNNING to `to`, and runs `also` in the same transaction. */
  private async settle(
    jobId: string,
    to: S,
    patch: TransitionPatch,
    also?: (m: EntityManager, jobId: string) => Promise<void>,
  ): Promise<void> {
    const t = await this.deps.db.transaction(async (m) => {
      const moved = await transitionJob(m, jobId, [S.RUNNING], to, patch, this.deps.workerId, this.def.kind);
      if (moved) await also?.(m, jobId);
      return moved;
    });
    if (!t) {
      this.deps.log(`${this.def.kind} job ${jobId}: no longer held by this worker; left as it is`);
      return;
    }
    await this.def.announce(t);
  }
}
