/**
 * The live streams behind the subscriptions. `trainingJobProgress` listens on the job's channel BEFORE reading the
 * snapshot, so nothing published in between is lost; events the snapshot already covers are dropped (steps at or
 * below its step, a status equal to the last one sent), which also hides the steps a takeover worker repeats
 * after resuming from a checkpoint. The stream ends after a final status.
 */
import { FixedBuffer, Repeater } from '@repeaterjs/repeater';
import type { DataSource } from 'typeorm';
import { TERMINAL_STATUSES, TrainingJobEntity, JobStatus } from '../../db/entities';
import { jobChannel, JobEventPayload, projectStatusChannel, StatusEventPayload } from '../../queue/events';
import type { EventPublisher } from '../../queue/publisher';
import type { ChannelSubscriber } from '../../queue/subscriber';
import type { Principal } from '../context';
import { notFound } from '../errors';
import { isUuid } from '../common/ids';
import { ProgressEventKind, TrainingJobProgressEvent, TrainingJobStatusEvent } from './types';

/** Events buffered per subscriber while its client reads slowly; far above any step rate a client can follow. */
const BUFFER = 10_000;

export class ProgressStreams {
  constructor(
    private readonly db: DataSource,
    private readonly subscriber: ChannelSubscriber,
    private readonly publisher: EventPublisher,
    private readonly prefix: string,
  ) {}

  /** Throws NOT_FOUND (before any event) when the job is not the caller's. */
  async jobProgress(principal: Principal, jobId: string): Promise<AsyncIterable<TrainingJobProgressEvent>> {
    const exists =
      isUuid(jobId) &&
      (await this.db
        .getRepository(TrainingJobEntity)
        .existsBy({ id: jobId, projectId: principal.projectId }));
    if (!exists) throw notFound('TrainingJob', jobId);
    return new Repeater<TrainingJobProgressEvent>(async (push, stop) => {
      const early: JobEventPayload[] = [];
      let deliver: (e: JobEventPayload) => void = (e) => early.push(e);
      const unlisten = await this.subscriber.listen(jobChannel(this.prefix, jobId), (m) =>
        deliver(m as JobEventPayload),
      );
      const snapshot = await this.snapshot(jobId);
      let lastStep = snapshot.step;
      let lastStatus = snapshot.status;
      let finished = TERMINAL_STATUSES.includes(snapshot.status);
      await push(snapshot);
      deliver = (e) => {
        if (finished) return;
        if (e.type === 'step') {
          if (e.step <= lastStep) return;
          lastStep = e.step;
          void push(fromStep(e));
        } else {
          if (e.status === lastStatus) return;
          lastStatus = e.status;
          void push(fromStatus(e, lastStep));
          if (TERMINAL_STATUSES.includes(e.status)) {
            finished = true;
            stop();
          }
        }
      };
      if (finished) stop();
      early.forEach((e) => deliver(e));
      await stop;
      await unlisten();
    }, new FixedBuffer(BUFFER));
  }

  /** Status changes of every job of the caller's project. */
  async projectStatus(principal: Principal): Promise<AsyncIterable<TrainingJobStatusEvent>> {
    return new Repeater<TrainingJobStatusEvent>(async (push, stop) => {
      const unlisten = await this.subscriber.listen(
        projectStatusChannel(this.prefix, principal.projectId),
        (m) => {
          const e = m as StatusEventPayload;
          void push({ ...e, at: new Date(e.at) });
        },
      );
      await stop;
      await unlisten();
    }, new FixedBuffer(BUFFER));
  }

  /** The job row, brought up to date with the latest published step (metric rows are written in batches). */
  private async snapshot(jobId: string): Promise<TrainingJobProgressEvent> {
    const job = await this.db.getRepository(TrainingJobEntity).findOneByOrFail({ id: jobId });
    const base: TrainingJobProgressEvent = {
      kind: ProgressEventKind.SNAPSHOT,
      jobId,
      status: job.status,
      epoch: job.epoch,
      step: job.step,
      totalSteps: job.totalSteps,
      progress: job.progress,
      loss: job.latestLoss,
      learningRate: null,
      gradNorm: null,
      tokensPerSecond: null,
      elapsedSeconds: null,
      etaSeconds: null,
      extra: null,
      error: job.error,
      at: new Date(),
    };
    const latest = job.status === JobStatus.RUNNING ? await this.publisher.latestStep(jobId) : null;
    if (!latest || latest.step < job.step) return base;
    return { ...fromStep(latest), kind: ProgressEventKind.SNAPSHOT, status: job.status, at: base.at };
  }
}

function fromStep(e: Extract<JobEventPayload, { type: 'step' }>): TrainingJobProgressEvent {
  return {
    kind: ProgressEventKind.STEP,
    jobId: e.jobId,
    status: JobStatus.RUNNING,
    epoch: e.epoch,
    step: e.step,
    totalSteps: e.totalSteps,
    progress: e.totalSteps > 0 ? e.step / e.totalSteps : 0,
    loss: e.loss,
    learningRate: e.learningRate,
    gradNorm: e.gradNorm,
    tokensPerSecond: e.tokensPerSecond,
    elapsedSeconds: e.elapsedSeconds,
    etaSeconds: e.etaSeconds,
    extra: e.extra,
    error: null,
    at: new Date(e.at),
  };
}

function fromStatus(e: StatusEventPayload, step: number): TrainingJobProgressEvent {
  return {
    kind: ProgressEventKind.STATUS,
    jobId: e.jobId,
    status: e.status,
    epoch: null,
    step,
    totalSteps: null,
    progress: 0,
    loss: null,
    learningRate: null,
    gradNorm: null,
    tokensPerSecond: null,
    elapsedSeconds: null,
    etaSeconds: null,
    extra: null,
    error: e.error,
    at: new Date(e.at),
  };
}
