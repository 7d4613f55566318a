/**
 * Runs one job of the `evaluation` queue: claims it (QUEUED -> RUNNING, or a takeover of a RUNNING job whose
 * worker died), generates and scores in a child process, stores each batch of samples as it arrives (and the
 * progress with it), announces progress and status on the job's channel, and at the end stores the means of
 * every score and settles SUCCEEDED. Failures of the job itself end as FAILED; worker shutdown puts the job back
 * in the queue (throwing, so Bull hands it on), and the next run scores only the rows not stored yet.
 */
import path from 'node:path';
import type Bull from 'bull';
import type { DataSource, EntityManager } from 'typeorm';
import {
  EvaluationJobEntity,
  EvaluationJobStatus as S,
  METRICS,
  metricColumn,
  metricValue,
} from '../../db/entities';
import {
  EvaluationPatch,
  EvaluationTransition,
  transitionEvaluation,
} from '../../db/entities/evaluation-status';
import { queryRows } from '../../db/query';
import type { ScoredSample } from '../../evaluation/run-evaluation';
import type { EventPublisher } from '../../queue/publisher';
import type { EvaluationQueuePayload } from '../../queue/queues';
import { forkRunner } from '../training/child';
import { ActiveRun, PreemptedError } from '../training/handler';
import type { StopReason } from '../training/messages';
import type { FromEvaluationRunner } from './messages';
import { planEvaluation } from './plan';

export interface EvaluationHandlerDeps {
  db: DataSource;
  publisher: EventPublisher;
  workerId: string;
  /** Registers a callback for cancellation requests of one job; returns the unregistration. */
  onCancel(jobId: string, cb: () => void): () => void;
  log(message: string, err?: unknown): void;
}

type Outcome =
  | { kind: 'done'; stopped: boolean }
  | { kind: 'failed'; message: string }
  | { kind: 'crashed'; code: number | null; signal: string | null };

const COLUMNS = METRICS.map(metricColumn);

/** Stores a batch of samples (a repeated batch after a takeover changes nothing) and counts them on the job. */
async function storeSamples(
  db: DataSource,
  jobId: string,
  samples: readonly ScoredSample[],
): Promise<{ samples_done: number; samples_total: number | null; cancel_requested_at: Date | null }> {
  return db.transaction(async (m) => {
    const inserted = await queryRows<{ index: number }>(
      m,
      `INSERT INTO evaluation_samples (evaluation_id, index, prompt, reference, prediction, ${COLUMNS.join(', ')})
       SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[],
              ${COLUMNS.map((_, i) => `$${i + 6}::float8[]`).join(', ')})
       ON CONFLICT (evaluation_id, index) DO NOTHING RETURNING index`,
      [
        jobId,
        samples.map((s) => s.index),
        samples.map((s) => s.prompt),
        samples.map((s) => s.reference),
        samples.map((s) => s.prediction),
        ...METRICS.map((metric) => samples.map((s) => metricValue(s.scores, metric))),
      ],
    );
    const [row] = await queryRows<{
      samples_done: number;
      samples_total: number | null;
      cancel_requested_at: Date | null;
    }>(
      m,
      `UPDATE evaluation_jobs SET samples_done = samples_done + $2, updated_at = now() WHERE id = $1
       RETURNING samples_done, samples_total, cancel_requested_at`,
      [jobId, inserted.length],
    );
    return row;
  });
}

/** The means of every score over the stored samples, written to the job row (in the caller's transaction). */
async function storeAggregates(m: EntityManager, jobId: string): Promise<void> {
  await m.query(
    `UPDATE evaluation_jobs e SET ${COLUMNS.map((c) => `${c} = a.${c}`).join(', ')}
       FROM (SELECT ${COLUMNS.map((c) => `avg(${c}) AS ${c}`).join(', ')}
               FROM evaluation_samples WHERE evaluation_id = $1) a
      WHERE e.id = $1`,
    [jobId],
  );
}

export class EvaluationHandler {
  private readonly active = new Map<string, ActiveRun>();

  constructor(private readonly deps: EvaluationHandlerDeps) {}

  activeRuns(): ActiveRun[] {
    return [...this.active.values()];
  }

  readonly handle = async (bullJob: Bull.Job<EvaluationQueuePayload>): Promise<void> => {
    const { db, workerId } = this.deps;
    const jobId = bullJob.data.jobId;
    const claim = await transitionEvaluation(db.manager, jobId, [S.QUEUED, S.RUNNING], S.RUNNING, {
      attempts: 'increment',
      worker_id: workerId,
      started_at: 'first',
    });
    if (!claim) {
      this.deps.log(`evaluation ${jobId}: not QUEUED or RUNNING any more; skipped`);
      return;
    }
    if (claim.previousStatus !== S.RUNNING) await this.announce(claim);
    if (claim.job.cancelRequestedAt) {
      await this.settle(jobId, S.CANCELLED, { finished_at: 'now' });
      return;
    }
    await this.run(claim.job);
  };

  private async run(job: EvaluationJobEntity): Promise<void> {
    const { db, publisher } = this.deps;
    const { id: jobId, projectId } = job;
    const spec = await planEvaluation(db.manager, job);
    const child = forkRunner(path.join(__dirname, 'runner'));
    this.deps.log(`evaluation ${jobId}: running in process ${child.pid}`);
    let stopReason: StopReason | null = null;
    const stop = (reason: StopReason) => {
      if (stopReason === 'shutdown') return;
      stopReason = reason;
      if (child.connected) child.send({ type: 'stop' });
    };
    const unregister = this.deps.onCancel(jobId, () => stop('cancel'));
    const progress = (done: number, total: number) =>
      publisher.publishEvaluation({
        type: 'evaluation-samples',
        jobId,
        projectId,
        samplesDone: done,
        samplesTotal: total,
        at: new Date().toISOString(),
      });
    // Messages are handled one after another: samples are stored in order and the final status follows them.
    let chain: Promise<void> = Promise.resolve();
    let outcome: Outcome | null = null;
    const handle = async (message: FromEvaluationRunner) => {
      if (message.type === 'started') {
        const [row] = await queryRows<{ samples_done: number; samples_total: number }>(
          db,
          `UPDATE evaluation_jobs SET samples_total = samples_done + $2, skipped_rows = $3, updated_at = now()
            WHERE id = $1 RETURNING samples_done, samples_total`,
          [jobId, message.total, message.skipped],
        );
        await progress(row.samples_done, row.samples_total);
      } else if (message.type === 'samples') {
        const row = await storeSamples(db, jobId, message.samples);
        // The database is the cancellation's record; a missed Redis message still stops the run here.
        if (row.cancel_requested_at) stop('cancel');
        if (child.connected) child.send({ type: 'stored' });
        await progress(row.samples_done, row.samples_total ?? row.samples_done);
      } else if (message.type === 'done') outcome = { kind: 'done', stopped: message.stopped };
      else outcome = { kind: 'failed', message: message.message };
    };
    child.on('message', (message: FromEvaluationRunner) => {
      chain = chain.then(async () => {
        if (outcome?.kind === 'failed') return;
        try {
          await handle(message);
        } catch (err) {
          // Results that cannot be stored fail the job; the run is of no use beyond this point.
          this.deps.log(`evaluation ${jobId}: storing results failed`, err);
          outcome = { kind: 'failed', message: `storing results failed: ${(err as Error).message}` };
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
        child.send({ type: 'start', spec });
      });
      await chain;
      await this.finish(jobId, outcome ?? { kind: 'crashed', ...exit }, stopReason);
    } finally {
      unregister();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      this.active.delete(jobId);
      finishRun();
    }
  }

  private async finish(jobId: string, outcome: Outcome, stopReason: StopReason | null): Promise<void> {
    if (stopReason === 'shutdown' && !(outcome.kind === 'done' && !outcome.stopped)) {
      await this.settle(jobId, S.QUEUED, { worker_id: null });
      throw new PreemptedError(`evaluation ${jobId}: worker shutting down; continues elsewhere`);
    }
    if (outcome.kind === 'done') {
      if (outcome.stopped) await this.settle(jobId, S.CANCELLED, { finished_at: 'now' });
      else await this.settle(jobId, S.SUCCEEDED, { finished_at: 'now' }, storeAggregates);
      return;
    }
    const message =
      outcome.kind === 'failed'
        ? outcome.message
        : `the evaluation process exited unexpectedly (code ${outcome.code}, signal ${outcome.signal})`;
    await this.settle(jobId, S.FAILED, { finished_at: 'now', error: message });
  }

  /** Marks a job FAILED when the queue gives up on it (retries spent, or its workers keep dying). */
  async giveUp(jobId: string, reason: string): Promise<void> {
    const t = await transitionEvaluation(this.deps.db.manager, jobId, [S.RUNNING], S.FAILED, {
      finished_at: 'now',
      error: `given up by the queue: ${reason}`,
    });
    if (t) await this.announce(t);
  }

  /** Moves the job (held by this worker) from RUNNING to `to`, and runs `also` in the same transaction. */
  private async settle(
    jobId: string,
    to: S,
    patch: EvaluationPatch,
    also?: (m: EntityManager, jobId: string) => Promise<void>,
  ): Promise<void> {
    const t = await this.deps.db.transaction(async (m) => {
      const moved = await transitionEvaluation(m, jobId, [S.RUNNING], to, patch, this.deps.workerId);
      if (moved) await also?.(m, jobId);
      return moved;
    });
    if (!t) {
      this.deps.log(`evaluation ${jobId}: no longer held by this worker; left as it is`);
      return;
    }
    await this.announce(t);
  }

  private announce(t: EvaluationTransition): Promise<void> {
    return this.deps.publisher.publishEvaluation({
      type: 'evaluation-status',
      jobId: t.job.id,
      projectId: t.job.projectId,
      status: t.job.status,
      previousStatus: t.previousStatus,
      error: t.job.error,
      at: new Date().toISOString(),
    });
  }
}
