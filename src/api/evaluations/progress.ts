/**
 * The stream behind `evaluationJobProgress`: it listens on the job's channel BEFORE reading the snapshot, so
 * nothing published in between is lost, and drops what the snapshot already covers (sample counts at or below
 * it, a status equal to the last one sent). A SUCCEEDED status carries the aggregate results (stored before the
 * worker announces it). The stream ends after a final status.
 */
import { FixedBuffer, Repeater } from '@repeaterjs/repeater';
import type { DataSource } from 'typeorm';
import { TERMINAL_STATUSES, EvaluationJobEntity, JobStatus as S, scoresOf } from '../../db/entities';
import type { EvaluationEventPayload } from '../../queue/evaluation-events';
import { jobChannel } from '../../queue/events';
import type { ChannelSubscriber } from '../../queue/subscriber';
import { isUuid } from '../common/ids';
import type { Principal } from '../context';
import { notFound } from '../errors';
import { EvaluationJobProgressEvent, EvaluationProgressKind } from './types';

/** Events buffered per subscriber while its client reads slowly. */
const BUFFER = 10_000;

const fraction = (done: number, total: number | null) => (total ? done / total : 0);

export class EvaluationProgressStreams {
  constructor(
    private readonly db: DataSource,
    private readonly subscriber: ChannelSubscriber,
    private readonly prefix: string,
  ) {}

  /** Throws NOT_FOUND (before any event) when the evaluation is not the caller's. */
  async progress(principal: Principal, jobId: string): Promise<AsyncIterable<EvaluationJobProgressEvent>> {
    const repo = this.db.getRepository(EvaluationJobEntity);
    if (!isUuid(jobId) || !(await repo.existsBy({ id: jobId, projectId: principal.projectId }))) {
      throw notFound('EvaluationJob', jobId);
    }
    return new Repeater<EvaluationJobProgressEvent>(async (push, stop) => {
      const early: EvaluationEventPayload[] = [];
      let deliver: (e: EvaluationEventPayload) => Promise<void> = async (e) => void early.push(e);
      const unlisten = await this.subscriber.listen(jobChannel(this.prefix, jobId), (m) => {
        void deliver(m as EvaluationEventPayload);
      });
      const snapshot = this.event(EvaluationProgressKind.SNAPSHOT, await repo.findOneByOrFail({ id: jobId }));
      let { samplesDone, samplesTotal, status } = snapshot;
      let finished = TERMINAL_STATUSES.includes(status);
      await push(snapshot);
      // Events are handled one at a time, so a status read back from the database keeps its place in the order.
      let queue = Promise.resolve();
      deliver = (e) =>
        (queue = queue.then(async () => {
          if (finished) return;
          if (e.type === 'evaluation-samples') {
            if (e.samplesDone <= samplesDone && e.samplesTotal === samplesTotal) return;
            ({ samplesDone, samplesTotal } = e);
            await push({
              ...snapshot,
              kind: EvaluationProgressKind.SAMPLES,
              status,
              samplesDone,
              samplesTotal,
              progress: fraction(samplesDone, samplesTotal),
              at: new Date(e.at),
            });
          } else if (e.status !== status) {
            status = e.status;
            finished = TERMINAL_STATUSES.includes(status);
            const job = await repo.findOneByOrFail({ id: jobId });
            ({ samplesDone, samplesTotal } = job);
            await push({ ...this.event(EvaluationProgressKind.STATUS, job, status), at: new Date(e.at) });
            if (finished) stop();
          }
        }));
      if (finished) stop();
      early.forEach((e) => void deliver(e));
      await stop;
      await unlisten();
    }, new FixedBuffer(BUFFER));
  }

  /** An event from the job row; `status` is the one announced (the row may already be further on). */
  private event(
    kind: EvaluationProgressKind,
    job: EvaluationJobEntity,
    status: S = job.status,
  ): EvaluationJobProgressEvent {
    return {
      kind,
      jobId: job.id,
      status,
      samplesDone: job.samplesDone,
      samplesTotal: job.samplesTotal,
      progress: fraction(job.samplesDone, job.samplesTotal),
      error: job.error,
      results: status === S.SUCCEEDED ? scoresOf(job.scores) : null,
      at: new Date(),
    };
  }
}
