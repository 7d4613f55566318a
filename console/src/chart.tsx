/**
 * A uPlot line chart. The instance is made once per set of series and given new data with `setData`, so a
 * stream of points redraws the canvas without rebuilding the chart.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useT } from './i18n';
import { valueOf } from './ui';

export const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

export interface ChartProps {
  title: string;
  /** x values first, then one array per series (null: no value at that x). */
  data: uPlot.AlignedData;
  labels: string[];
  xLabel: string;
  log?: boolean;
  height?: number;
  /** Changes whenever `data` was appended to in place. */
  version?: number;
  /** Draws new data in a task of its own, after the charts that are not deferred have drawn theirs. */
  deferred?: boolean;
}

export function Chart({
  title,
  data,
  labels,
  xLabel,
  log = false,
  height = 220,
  version = 0,
  deferred = false,
}: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${labels.join('\u0000')}|${log}|${xLabel}`;

  useEffect(() => {
    const el = box.current as HTMLDivElement;
    const u = new uPlot(
      {
        title,
        width: el.clientWidth || 600,
        height,
        scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
        axes: [{ label: xLabel }, { size: 60 }],
        series: [
          { label: xLabel },
          ...labels.map((label, i) => ({
            label,
            stroke: COLORS[i % COLORS.length],
            width: 1.5,
            spanGaps: true,
          })),
        ],
        // data-points: how many points the canvas shows, once drawn (what tests and bench:console wait for).
        hooks: { draw: [(self) => (el.dataset.points = String(self.data[0].length))] },
      },
      // Empty until the effect below gives it the data (once, deferred or not).
      [[], ...labels.map(() => [])],
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape, height]);

  useEffect(() => {
    const draw = () => plot.current?.setData(data);
    if (!deferred) return draw();
    const timer = setTimeout(draw);
    return () => clearTimeout(timer);
  }, [data, version, shape, height]);

  return <div class="chart" ref={box} />;
}

/** Exponential moving average with TensorBoard's debiasing; weight 0 returns the series as it is. */
export function smooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values as (number | null)[];
  let last = 0;
  // weight ** n, kept by one multiplication per value (a power per value took most of a 100,000-step redraw).
  let decay = 1;
  const out: (number | null)[] = [];
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) {
      out.push(null);
      continue;
    }
    last = last * weight + (1 - weight) * v;
    decay *= weight;
    out.push(last / (1 - decay));
  }
  return out;
}

/** A page's smoothing weight for `smooth` (0: raw) and the labelled slider that sets it. */
export function useSmoothing(): [number, JSX.Element] {
  const t = useT();
  const [smoothing, setSmoothing] = useState(0.6);
  const slider = (
    <label>
      {t('smoothing')} {smoothing.toFixed(2)}
      <input
        type="range"
        min="0"
        max="0.99"
        step="0.01"
        value={smoothing}
        onInput={(e) => setSmoothing(Number(valueOf(e)))}
      />
    </label>
  );
  return [smoothing, slider];
}
