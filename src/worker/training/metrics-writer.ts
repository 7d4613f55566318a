/**
 * Buffers a job's step metrics and writes them in batches: one multi-row upsert of the series plus one update of
 * the job's latest progress per flush. The same update reads back whether cancellation was requested, so a
 * cancel whose Redis message was missed still stops the job by the next flush.
 */
import type { DataSource } from 'typeorm';
import { queryRows } from '../../db/query';
import type { StepEvent } from '../../training/run-job';

export interface MetricsWriterOptions {
  batchSize: number;
  flushMs: number;
  /** Called once when a flush finds cancellation requested. */
  onCancelRequested: () => void;
  onError: (err: unknown) => void;
}

export class MetricsWriter {
  private buffer: (StepEvent & { recordedAt: Date })[] = [];
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

  private async write(rows: (StepEvent & { recordedAt: Date })[]): Promise<void> {
    const col = <K extends keyof StepEvent>(k: K) => rows.map((r) => r[k]);
    await this.db.query(
      `INSERT INTO training_step_metrics (job_id, step, epoch, total_steps, loss, learning_rate, grad_norm,
              tokens_per_second, elapsed_seconds, eta_seconds, extra, recorded_at)
       SELECT $1, * FROM unnest($2::int[], $3::int[], $4::int[], $5::float8[], $6::float8[], $7::float8[],
              $8::float8[], $9::float8[], $10::float8[], $11::jsonb[], $12::timestamptz[])
       ON CONFLICT (job_id, step) DO UPDATE SET epoch = EXCLUDED.epoch, total_steps = EXCLUDED.total_steps,
              loss = EXCLUDED.loss, learning_rate = EXCLUDED.learning_rate, grad_norm = EXCLUDED.grad_norm,
              tokens_per_second = EXCLUDED.tokens_per_second, elapsed_seconds = EXCLUDED.elapsed_seconds,
              eta_seconds = EXCLUDED.eta_seconds, extra = EXCLUDED.extra, recorded_at = EXCLUDED.recorded_at`,
      [
        this.jobId,
        col('step'),
        col('epoch'),
        col('totalSteps'),
        col('loss'),
        col('learningRate'),
        col('gradNorm'),
        col('tokensPerSecond'),
        col('elapsedSeconds'),
        col('etaSeconds'),
        rows.map((r) => (r.extra ? JSON.stringify(r.extra) : null)),
        rows.map((r) => r.recordedAt),
      ],
    );
    const last = rows[rows.length - 1];
    const updated = await queryRows<{ cancel_requested_at: Date | null }>(
      this.db,
      `UPDATE training_jobs SET step = $2::int, epoch = $3::int, total_steps = $4::int, latest_loss = $5::float8,
              progress = CASE WHEN $4::int > 0 THEN $2::int::float8 / $4::int ELSE 0 END, updated_at = now()
        WHERE id = $1 RETURNING cancel_requested_at`,
      [this.jobId, last.step, last.epoch, last.totalSteps, last.loss],
    );
    if (!this.cancelSeen && updated[0]?.cancel_requested_at) {
      this.cancelSeen = true;
      this.opts.onCancelRequested();
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
