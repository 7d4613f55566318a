/**
 * A job's step series in columns, as uPlot wants them: the stored history first, then the live steps appended.
 * A step at or before the last one (a resumed run repeats the steps after its checkpoint) cuts the series there.
 */
export interface StepPoint {
  step: number;
  loss?: number | null;
  learningRate?: number | null;
  gradNorm?: number | null;
  tokensPerSecond?: number | null;
  extra?: Record<string, unknown> | null;
}

export const SERIES = ['loss', 'learningRate', 'gradNorm', 'tokensPerSecond'] as const;
type Column = (typeof SERIES)[number];

export class StepHistory {
  step: number[] = [];
  readonly columns: Record<Column, (number | null)[]> = {
    loss: [],
    learningRate: [],
    gradNorm: [],
    tokensPerSecond: [],
  };
  /** eval_* metrics of `extra`, by name (null at steps without them). */
  readonly evals = new Map<string, (number | null)[]>();

  /** Whether every step from 1 to the last is here (steps are 1-based and a run's steps are contiguous). */
  get complete(): boolean {
    return this.step.length === this.lastStep;
  }

  get lastStep(): number {
    return this.step.length ? this.step[this.step.length - 1] : 0;
  }

  /** Starts from the stored history, as `metricSeries` answers it (columns; extra: name -> values aligned with steps). */
  load(
    series: { steps: number[]; extra: Record<string, unknown> } & Record<Column, (number | null)[]>,
  ): void {
    this.step = series.steps;
    for (const c of SERIES) this.columns[c] = series[c];
    for (const [name, values] of Object.entries(series.extra)) {
      if (name.startsWith('eval_')) this.evals.set(name, values as (number | null)[]);
    }
  }

  push(p: StepPoint): void {
    if (p.step <= this.lastStep) this.truncate(this.step.findIndex((s) => s >= p.step));
    const at = this.step.length;
    this.step.push(p.step);
    for (const c of SERIES) this.columns[c].push(p[c] ?? null);
    for (const [name, value] of Object.entries(p.extra ?? {})) {
      if (!name.startsWith('eval_') || typeof value !== 'number') continue;
      if (!this.evals.has(name)) this.evals.set(name, new Array<number | null>(at).fill(null));
    }
    for (const [name, values] of this.evals) {
      const v = p.extra?.[name];
      values.push(typeof v === 'number' ? v : null);
    }
  }

  private truncate(length: number): void {
    this.step.length = length;
    for (const c of SERIES) this.columns[c].length = length;
    for (const values of this.evals.values()) values.length = length;
  }
}
