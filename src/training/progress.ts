/**
 * Progress of a run: the StepEvent every optimizer step reports (for the worker to stream and the CLI to print),
 * the meter that derives throughput and ETA, and the two CLI renderings (a terminal bar or JSON lines).
 */

/**
 * The numbers every optimizer step reports, declared once, with the SQL type of their column: `step` counts the
 * optimizer steps done (1-based); loss and gradient norm (before clipping) are measured before the step's update.
 * The queue payload and the metrics writer's SQL derive from this table; the stored columns and the API's
 * StepMetric and progress event are checked against it (test/unit/training/step-fields.test.ts). Method-specific
 * numbers go in `extra`.
 */
export const STEP_FIELDS = {
  epoch: 'int',
  step: 'int',
  totalSteps: 'int',
  loss: 'float8',
  learningRate: 'float8',
  gradNorm: 'float8',
  tokensPerSecond: 'float8',
  elapsedSeconds: 'float8',
  etaSeconds: 'float8',
} as const;
export type StepField = keyof typeof STEP_FIELDS;
export const STEP_FIELD_NAMES = Object.keys(STEP_FIELDS) as StepField[];

/** A field's column name (learningRate -> learning_rate). */
export const stepColumn = (f: StepField): string => f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export type StepNumbers = Record<StepField, number>;

export interface StepEvent extends StepNumbers {
  extra?: Record<string, number>;
}

/**
 * Throughput and ETA from the steps run in this process (a resumed run measures from its restart). Time spent
 * building graphs and creating sessions (a step's `compileSeconds`) is left out of both: it is paid once per batch
 * shape, not per token. `now` is injectable so tests do not sleep.
 */
export class ProgressMeter {
  private readonly start: number;
  private tokens = 0;
  private steps = 0;
  private compileSeconds = 0;

  constructor(
    private readonly totalSteps: number,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {
    this.start = now();
  }

  event(s: {
    epoch: number;
    step: number;
    loss: number;
    learningRate: number;
    gradNorm: number;
    tokens: number;
    compileSeconds?: number;
    extra?: Record<string, number>;
  }): StepEvent {
    this.tokens += s.tokens;
    this.steps += 1;
    this.compileSeconds += s.compileSeconds ?? 0;
    const elapsed = this.now() - this.start;
    const training = Math.max(elapsed - this.compileSeconds, 0);
    const perStep = training / this.steps;
    const event: StepEvent = {
      epoch: s.epoch,
      step: s.step,
      totalSteps: this.totalSteps,
      loss: s.loss,
      learningRate: s.learningRate,
      gradNorm: s.gradNorm,
      tokensPerSecond: training > 0 ? this.tokens / training : 0,
      elapsedSeconds: elapsed,
      etaSeconds: perStep * Math.max(this.totalSteps - s.step, 0),
    };
    if (s.extra && Object.keys(s.extra).length) event.extra = s.extra;
    return event;
  }
}

/** `{"event":"step", ...}` as one JSON line (extra metrics inlined). */
export function stepJsonLine(e: StepEvent): string {
  const { extra, ...fields } = e;
  return JSON.stringify({ event: 'step', ...fields, ...extra });
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** One terminal line: `[#####.....] 5/10 epoch 1 loss 2.3456 lr 1.00e-4 |g| 0.81 512 tok/s 0:12<0:12`. */
export function progressBar(e: StepEvent, width = 24): string {
  const filled = e.totalSteps ? Math.round((width * e.step) / e.totalSteps) : 0;
  const bar = '#'.repeat(Math.min(filled, width)).padEnd(width, '.');
  return (
    `[${bar}] ${e.step}/${e.totalSteps} epoch ${e.epoch} loss ${e.loss.toFixed(4)} ` +
    `lr ${e.learningRate.toExponential(2)} |g| ${e.gradNorm.toFixed(3)} ` +
    `${Math.round(e.tokensPerSecond)} tok/s ${duration(e.elapsedSeconds)}<${duration(e.etaSeconds)}`
  );
}
