import { useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { ApiError, request } from '../api';
import { Chart, smooth, useSmoothing } from '../chart';
import type { CompareJobQuery, CompareJobQueryVariables } from '../gql';
import { PACKED_STEPS, PREVIEW_POINTS, StepHistory, type Column } from '../history';
import { useT } from '../i18n';
import { specification } from '../spec';
import { ErrorText, Loading } from '../ui';

const COMPARE_JOB = /* GraphQL */ `
  query CompareJob($id: ID!, $maxPoints: Int) {
    trainingJob(id: $id) {
      id
      name
      status
      method
      parameterScale
      baseModel {
        name
      }
      packedMetricSeries(maxPoints: $maxPoints) {
        ...PackedSteps
      }
    }
  }
`;
type Job = CompareJobQuery['trainingJob'];
type Compared = { job: Job; history: StepHistory; hyperparameters: Record<string, unknown> };

/** A job and its history, read as the job page reads it (packed lists, a chart's width of points). */
async function readCompared(id: string, names: string[]): Promise<Compared> {
  const { trainingJob: job } = await request<CompareJobQuery, CompareJobQueryVariables>(
    COMPARE_JOB + PACKED_STEPS,
    {
      id,
      maxPoints: PREVIEW_POINTS,
    },
  );
  const history = new StepHistory();
  history.load(job.packedMetricSeries);
  return { job, history, hyperparameters: await hyperparametersOf(id, names) };
}

/** Every job's hyperparameters, selected by the names the specification lists. */
function hyperparametersOf(id: string, names: string[]) {
  const query = `query ($id: ID!) { trainingJob(id: $id) { hyperparameters { ${names.join(' ')} } } }`;
  return request<{ trainingJob: { hyperparameters: Record<string, unknown> } }>(query, { id }).then(
    (r) => r.trainingJob.hyperparameters,
  );
}

/** The jobs' `column` on one x axis: the union of their steps, null where a job has no point. */
function overlay(histories: StepHistory[], column: Column): uPlot.AlignedData {
  const steps = [...new Set(histories.flatMap((h) => h.step))].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const series = histories.map((h) => {
    const values: (number | null)[] = new Array(steps.length).fill(null);
    const source = h.columns[column];
    h.step.forEach((step, i) => (values[at.get(step) as number] = source[i]));
    return values;
  });
  return [steps, ...series];
}

const text = (v: unknown) =>
  v === null || v === undefined ? '—' : Array.isArray(v) ? v.join(', ') : String(v);

export function ComparePage() {
  const t = useT();
  const ids = (useLocation().query.ids ?? '').split(',').filter(Boolean).slice(0, 5);
  const [compared, setCompared] = useState<Compared[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [smoothing, smoothingSlider] = useSmoothing();
  const [onlyDifferent, setOnlyDifferent] = useState(true);
  useEffect(() => {
    specification()
      .then((spec) => spec.fields.map((f) => f.name))
      .then((names) => Promise.all(ids.map((id) => readCompared(id, names))))
      .then(setCompared, (e: ApiError) => setError(e));
  }, [ids.join(',')]);
  if (error) return <ErrorText error={error} />;
  if (!compared) return <Loading />;
  const jobs = compared.map((c) => c.job);
  const labels = jobs.map((j) => j.name);
  const histories = compared.map((c) => c.history);
  const smoothed = (column: Column): uPlot.AlignedData => {
    const [x, ...ys] = overlay(histories, column);
    return [x, ...ys.map((y) => smooth(y as (number | null)[], smoothing))];
  };
  // The job page's curves, smoothed as there (the learning rate as it is).
  const charts: { column: Column; data: uPlot.AlignedData }[] = [
    { column: 'loss', data: smoothed('loss') },
    { column: 'learningRate', data: overlay(histories, 'learningRate') },
    { column: 'gradNorm', data: smoothed('gradNorm') },
    { column: 'tokensPerSecond', data: smoothed('tokensPerSecond') },
  ];
  const names = Object.keys(compared[0]?.hyperparameters ?? {});
  const differs = (n: string) => new Set(compared.map((c) => text(c.hyperparameters[n]))).size > 1;
  const rows = [
    ['method', ...jobs.map((j) => `${j.method} · ${j.parameterScale}`)],
    ['model', ...jobs.map((j) => j.baseModel.name)],
    ...names
      .filter((n) => !onlyDifferent || differs(n))
      .map((n) => [n, ...compared.map((c) => text(c.hyperparameters[n]))]),
  ];
  return (
    <>
      <h1>{t('compareRuns')}</h1>
      <section class="card">
        <div class="row">
          <span class="grow" />
          {smoothingSlider}
        </div>
        <div class="charts">
          {charts.map(({ column, data }) => (
            <Chart key={column} title={t(column)} labels={labels} data={data} xLabel={t('step')} />
          ))}
        </div>
      </section>
      <section class="card">
        <div class="row">
          <h2 class="grow">{t('hyperparameterDiff')}</h2>
          <label>
            <input
              type="checkbox"
              checked={onlyDifferent}
              onChange={(e) => setOnlyDifferent((e.currentTarget as HTMLInputElement).checked)}
            />
            {t('onlyDifferences')}
          </label>
        </div>
        <table class="compact" data-testid="hp-diff">
          <thead>
            <tr>
              <th />
              {jobs.map((j) => (
                <th key={j.id}>
                  <a href={`/jobs/${j.id}`}>{j.name}</a>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map(([name, ...values]) => (
              <tr key={name} class={new Set(values).size > 1 ? 'changed' : ''}>
                <th>
                  <code>{name}</code>
                </th>
                {values.map((v, i) => (
                  <td key={i}>{v}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
