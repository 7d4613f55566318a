/**
 * Buffers a job's step metrics and writes them in batches: one multi-row upsert of the series plus one update of
 * the job's latest progress per flush. The same update reads back whether cancellation was requested, so a
 * cancel whose Redis message was missed still stops the job by the next flush.
 */
import type { DataSource } from 'typeorm';
import { queryRows } from '../../db/query';
import { STEP_FIELDS, STEP_FIELD_NAMES, type StepEvent, stepColumn } from '../../training/progress';

/** One multi-row upsert of the step series: a column and an unnest array per STEP_FIELDS entry. */
const INSERT_STEPS = (() => {
  const columns = [...STEP_FIELD_NAMES.map(stepColumn), 'extra', 'recorded_at'];
  const types = [...STEP_FIELD_NAMES.map((f) => STEP_FIELDS[f]), 'jsonb', 'timestamptz'];
  const updates = columns.filter((c) => c !== 'step').map((c) => `${c} = EXCLUDED.${c}`);
  return `INSERT INTO training_step_metrics (job_id, ${columns.join(', ')})
    SELECT $1, * FROM unnest(${types.map((t, i) => `$${i + 2}::${t}[]`).join(', ')})
    ON CONFLICT (job_id, step) DO UPDATE SET ${updates.join(', ')}`;
})();

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
    await this.db.query(INSERT_STEPS, [
      this.jobId,
      ...STEP_FIELD_NAMES.map((f) => rows.map((r) => r[f])),
      rows.map((r) => (r.extra ? JSON.stringify(r.extra) : null)),
      rows.map((r) => r.recordedAt),
    ]);
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
