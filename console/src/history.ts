/**
 * A job's step series in columns, as uPlot wants them: the stored history first, then the live steps appended.
 * A step at or before the last one (a resumed run repeats the steps after its checkpoint) cuts the series there.
 */
import type { PackedStepsFragment } from './gql';

export interface StepPoint {
  step: number;
  loss?: number | null;
  learningRate?: number | null;
  gradNorm?: number | null;
  tokensPerSecond?: number | null;
  extra?: Record<string, unknown> | null;
}

export const SERIES = ['loss', 'learningRate', 'gradNorm', 'tokensPerSecond'] as const;
export type Column = (typeof SERIES)[number];

/**
 * What `StepHistory.load` reads of a `packedMetricSeries`: a query that selects `...PackedSteps` is sent with this
 * appended (the job page's and the compare page's).
 */
export const PACKED_STEPS = /* GraphQL */ `
  fragment PackedSteps on PackedStepSeries {
    steps
    loss
    learningRate
    gradNorm
    tokensPerSecond
    extra
  }
`;

/** Points of a quick read of a long history (about a chart's width): `packedMetricSeries(maxPoints:)`. */
export const PREVIEW_POINTS = 2000;

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

  /** Starts from the stored history, as `packedMetricSeries` answers it (extra: name -> values aligned with steps). */
  load(series: PackedStepsFragment): void {
    this.step = unpackInts(series.steps);
    for (const c of SERIES) this.columns[c] = unpackFloats(series[c]);
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

/** Uint8Array.fromBase64 where the browser has it (native: a tenth of the time of atob and a loop). */
const fromBase64 = (Uint8Array as { fromBase64?: (base64: string) => Uint8Array }).fromBase64;

/** The bytes of a base64 string, read through a DataView (the packed lists are little-endian on every host). */
function bytesOf(base64: string): DataView {
  let bytes: Uint8Array;
  if (fromBase64) bytes = fromBase64(base64);
  else {
    const text = atob(base64);
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// The lists are built by push, not preallocated: V8 then keeps them as packed doubles (no hole or boxed number
// per element), which the smoothing and the charts read several times faster.

/** An Int32Base64 list as numbers. */
export function unpackInts(base64: string): number[] {
  const view = bytesOf(base64);
  const out: number[] = [];
  for (let i = 0; i < view.byteLength; i += 4) out.push(view.getInt32(i, true));
  return out;
}

/** A Float64Base64 list as numbers; null for a double that is not finite (a diverged step), a gap on the chart. */
export function unpackFloats(base64: string): (number | null)[] {
  const view = bytesOf(base64);
  const out: (number | null)[] = [];
  for (let i = 0; i < view.byteLength; i += 8) {
    const v = view.getFloat64(i, true);
    out.push(Number.isFinite(v) ? v : null);
  }
  return out;
}
