/**
 * Runs one job of the `training` queue: claims it (QUEUED -> RUNNING, or a takeover of a RUNNING job whose worker
 * died), trains it in a child process, relays every step to Redis at once and to PostgreSQL in batches, records
 * checkpoints, and settles the final status. Failures of the job itself end as FAILED; only infrastructure
 * trouble and worker shutdown throw, so that Bull hands the job to another worker, which continues from the last
 * checkpoint.
 */
import type Bull from 'bull';
import type { DataSource } from 'typeorm';
import { TrainingJobEntity, TrainingJobStatus as S } from '../../db/entities';
import { transitionJob, type Transition, type TransitionPatch } from '../../db/job-status';
import { describeGpus } from '../../engine/gpu-devices';
import { statusEvent } from '../../queue/events';
import type { EventPublisher } from '../../queue/publisher';
import type { TrainingQueuePayload } from '../../queue/queues';
import type { StepEvent, TrainingRunSpec } from '../../training/run-job';
import { forkRunner } from './child';
import { jobOutputDir, planRun } from './job-spec';
import type { CheckpointEvent, FromRunner, StopReason } from './messages';
import { MetricsWriter } from './metrics-writer';

export interface TrainingHandlerDeps {
  db: DataSource;
  publisher: EventPublisher;
  workerId: string;
  dataDir: string;
  metricsBatchSize: number;
  metricsFlushMs: number;
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

type Outcome =
  | { kind: 'done' }
  | { kind: 'failed'; message: string }
  | { kind: 'crashed'; code: number | null; signal: string | null };

export class TrainingHandler {
  private readonly active = new Map<string, ActiveRun>();

  constructor(private readonly deps: TrainingHandlerDeps) {}

  activeRuns(): ActiveRun[] {
    return [...this.active.values()];
  }

  readonly handle = async (bullJob: Bull.Job<TrainingQueuePayload>): Promise<void> => {
    const { db, workerId } = this.deps;
    const jobId = bullJob.data.jobId;
    const outputDir = jobOutputDir(this.deps.dataDir, jobId);
    const claim = await db.transaction(async (m) => {
      const t = await transitionJob(m, jobId, [S.QUEUED, S.RUNNING], S.RUNNING, {
        attempts: 'increment',
        worker_id: workerId,
        started_at: 'first',
        output_dir: outputDir,
      });
      if (!t) return null;
      const plan = await planRun(m, t.job, outputDir);
      // Steps after the checkpoint this run starts from belong to a run that is gone; they are run again.
      await m.query(`DELETE FROM training_step_metrics WHERE job_id = $1 AND step > $2`, [
        jobId,
        plan.startStep,
      ]);
      return { ...t, plan };
    });
    if (!claim) {
      this.deps.log(`job ${jobId}: not QUEUED or RUNNING any more; skipped`);
      return;
    }
    if (claim.previousStatus !== S.RUNNING) await this.announce(claim);
    if (claim.job.cancelRequestedAt) {
      await this.settle(jobId, S.CANCELLED, { finished_at: 'now' });
      return;
    }
    await this.train(claim.job, claim.plan.spec);
  };

  private async train(job: TrainingJobEntity, spec: TrainingRunSpec): Promise<void> {
    const { db, publisher } = this.deps;
    const jobId = job.id;
    const child = forkRunner();
    const where =
      spec.executionProvider === 'cpu' ? 'cpu' : `${spec.executionProvider} (GPUs: ${describeGpus()})`;
    this.deps.log(`job ${jobId}: training in process ${child.pid} on ${where}`);
    let stopReason: StopReason | null = null;
    let lastStep: StepEvent | null = null;
    const stop = (reason: StopReason) => {
      if (stopReason === 'shutdown') return;
      stopReason = reason;
      if (child.connected) child.send({ type: 'stop', reason });
    };
    const writer = new MetricsWriter(db, jobId, {
      batchSize: this.deps.metricsBatchSize,
      flushMs: this.deps.metricsFlushMs,
      onCancelRequested: () => stop('cancel'),
      onError: (err) => this.deps.log(`job ${jobId}: writing metrics failed`, err),
    });
    const unregister = this.deps.onCancel(jobId, () => stop('cancel'));
    // Messages are handled one after another, so a checkpoint row follows the steps before it and the final
    // status follows everything.
    let chain: Promise<void> = Promise.resolve();
    let outcome: Outcome | null = null;
    const onMessage = (message: FromRunner) => {
      chain = chain.then(async () => {
        if (message.type === 'step') {
          lastStep = message.event;
          writer.add(message.event);
          await publisher.publishStep({
            type: 'step',
            jobId,
            projectId: job.projectId,
            ...message.event,
            extra: message.event.extra ?? null,
            at: new Date().toISOString(),
          });
        } else if (message.type === 'checkpoint') {
          await writer.flush();
          await this.recordCheckpoint(jobId, message.checkpoint);
        } else if (message.type === 'done') outcome = { kind: 'done' };
        else if (message.type === 'failed') outcome = { kind: 'failed', message: message.message };
      });
    };
    child.on('message', onMessage);
    let finishRun!: () => void;
    const run: ActiveRun = { jobId, stop, finished: new Promise((r) => (finishRun = r)) };
    this.active.set(jobId, run);
    try {
      const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.send({ type: 'start', spec });
      });
      await chain;
      await writer.flush();
      const result: Outcome = outcome ?? { kind: 'crashed', ...exit };
      await this.finish(jobId, result, stopReason, lastStep);
    } finally {
      unregister();
      writer.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      this.active.delete(jobId);
      finishRun();
    }
  }

  private async finish(
    jobId: string,
    outcome: Outcome,
    stopReason: StopReason | null,
    last: StepEvent | null,
  ): Promise<void> {
    const completed = last !== null && last.step >= last.totalSteps;
    if (outcome.kind === 'done') {
      if (stopReason === 'shutdown' && !completed) {
        await this.settle(jobId, S.QUEUED, { worker_id: null });
        throw new PreemptedError(
          `job ${jobId}: worker shutting down; continues elsewhere from its last checkpoint`,
        );
      }
      if (stopReason === 'cancel' && !completed)
        await this.settle(jobId, S.CANCELLED, { finished_at: 'now' });
      else await this.settle(jobId, S.SUCCEEDED, { finished_at: 'now', progress: 1 });
      return;
    }
    if (stopReason === 'shutdown') {
      await this.settle(jobId, S.QUEUED, { worker_id: null });
      throw new PreemptedError(`job ${jobId}: worker shutting down`);
    }
    const message =
      outcome.kind === 'failed'
        ? outcome.message
        : `the training process exited unexpectedly (code ${outcome.code}, signal ${outcome.signal})`;
    await this.settle(jobId, S.FAILED, { finished_at: 'now', error: message });
  }

  private async recordCheckpoint(jobId: string, c: CheckpointEvent): Promise<void> {
    await this.deps.db.transaction(async (m) => {
      const rows: { id: string }[] = await m.query(
        `INSERT INTO checkpoints (job_id, step, path, metrics) VALUES ($1, $2, $3, $4)
         ON CONFLICT (job_id, step) DO UPDATE SET path = EXCLUDED.path, metrics = EXCLUDED.metrics,
                created_at = now()
         RETURNING id`,
        [jobId, c.step, c.path, JSON.stringify(c.metrics)],
      );
      await m.query(`UPDATE training_jobs SET resume_checkpoint_id = $2, updated_at = now() WHERE id = $1`, [
        jobId,
        rows[0].id,
      ]);
    });
  }

  /** Moves the job (held by this worker) from RUNNING to `to` and announces it. */
  private async settle(jobId: string, to: S, patch: TransitionPatch): Promise<void> {
    const t = await transitionJob(this.deps.db.manager, jobId, [S.RUNNING], to, patch, this.deps.workerId);
    if (!t) {
      this.deps.log(`job ${jobId}: no longer held by this worker; left as it is`);
      return;
    }
    await this.announce(t);
  }

  private announce(t: Transition): Promise<void> {
    return this.deps.publisher.publishStatus(statusEvent(t));
  }
}
