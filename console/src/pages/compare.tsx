import { useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { ApiError, request } from '../api';
import { Chart, smooth, useSmoothing } from '../chart';
import type { CompareJobQuery } from '../gql';
import { useT } from '../i18n';
import { specification } from '../spec';
import { ErrorText, Loading } from '../ui';

const COMPARE_JOB = /* GraphQL */ `
  query CompareJob($id: ID!) {
    trainingJob(id: $id) {
      id
      name
      status
      method
      parameterScale
      baseModel {
        name
      }
      metrics(maxPoints: 2000) {
        step
        loss
        learningRate
      }
    }
  }
`;
type Job = CompareJobQuery['trainingJob'];
type Compared = { job: Job; hyperparameters: Record<string, unknown> };

/** Every job's hyperparameters, selected by the names the specification lists. */
function hyperparametersOf(id: string, names: string[]) {
  const query = `query ($id: ID!) { trainingJob(id: $id) { hyperparameters { ${names.join(' ')} } } }`;
  return request<{ trainingJob: { hyperparameters: Record<string, unknown> } }>(query, { id }).then(
    (r) => r.trainingJob.hyperparameters,
  );
}

/** The jobs' series on one x axis: the union of their steps, null where a job has no point. */
function overlay(jobs: Job[], pick: (m: Job['metrics'][number]) => number): uPlot.AlignedData {
  const steps = [...new Set(jobs.flatMap((j) => j.metrics.map((m) => m.step)))].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const series = jobs.map((j) => {
    const values: (number | null)[] = new Array(steps.length).fill(null);
    for (const m of j.metrics) values[at.get(m.step) as number] = pick(m);
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
      .then((names) =>
        Promise.all(
          ids.map(async (id) => ({
            job: (await request<CompareJobQuery>(COMPARE_JOB, { id })).trainingJob,
            hyperparameters: await hyperparametersOf(id, names),
          })),
        ),
      )
      .then(setCompared, (e: ApiError) => setError(e));
  }, [ids.join(',')]);
  if (error) return <ErrorText error={error} />;
  if (!compared) return <Loading />;
  const jobs = compared.map((c) => c.job);
  const labels = jobs.map((j) => j.name);
  const loss = overlay(jobs, (m) => m.loss);
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
          <Chart
            title={t('loss')}
            labels={labels}
            data={[loss[0], ...loss.slice(1).map((s) => smooth(s as (number | null)[], smoothing))]}
            xLabel={t('step')}
          />
          <Chart
            title={t('learningRate')}
            labels={labels}
            data={overlay(jobs, (m) => m.learningRate)}
            xLabel={t('step')}
          />
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
