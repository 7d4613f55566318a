/**
 * Buffers a job's step metrics and writes them in batches: one multi-row upsert of the series plus one update of
 * the job's latest progress per flush (src/db/store writes both). The same update reads back whether cancellation was requested, so a
 * cancel whose Redis message was missed still stops the job by the next flush.
 */
import type { DataSource } from 'typeorm';
import { recordTrainingProgress } from '../../db/store/jobs';
import { insertSteps, type RecordedStep } from '../../db/store/step-metrics';
import type { StepEvent } from '../../training/progress';

export interface MetricsWriterOptions {
  batchSize: number;
  flushMs: number;
  /** Called once when a flush finds cancellation requested. */
  onCancelRequested: () => void;
  onError: (err: unknown) => void;
}

export class MetricsWriter {
  private buffer: RecordedStep[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private cancelSeen = false;

  constructor(
    private readonly db: DataSource,
    private readonly jobId: string,
    private readonly opts: MetricsWriterOptions,
  ) {}

  add(event: StepEvent): void {
    this.buffer.push({ ...event, recordedAt: new Date() });
    if (this.buffer.length >= this.opts.batchSize) void this.flush().catch(this.opts.onError);
    else this.timer ??= setTimeout(() => void this.flush().catch(this.opts.onError), this.opts.flushMs);
  }

  /** Writes everything buffered so far; flushes run one after another, in order. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.buffer;
    this.buffer = [];
    this.writing = this.writing.then(() => (rows.length ? this.write(rows) : undefined));
    return this.writing;
  }

  private async write(rows: RecordedStep[]): Promise<void> {
    await insertSteps(this.db, this.jobId, rows);
    const updated = await recordTrainingProgress(this.db, this.jobId, rows[rows.length - 1]);
    if (!this.cancelSeen && updated?.cancel_requested_at) {
      this.cancelSeen = true;
      this.opts.onCancelRequested();
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
