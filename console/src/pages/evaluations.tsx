import { useLocation, useRoute } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, request, subscribe } from '../api';
import {
  EvaluationJobStatus,
  EvaluationMetric,
  type CompareEvaluationsQuery,
  type CreateEvaluationJobMutation,
  type CreateEvaluationJobMutationVariables,
  type DatasetsQuery,
  type EvaluationJobProgressSubscription,
  type EvaluatedModelFragment,
  type EvaluationQuery,
  type EvaluationsQuery,
  type ModelsQuery,
  type SortDirection,
} from '../gql';
import { useT } from '../i18n';
import { metricValue, SCORES, useMetrics } from '../metrics';
import type { MessageKey } from '../messages';
import { ErrorText, fmt, Loading, Pager, ProgressBar, Status, usePager, useQuery, valueOf } from '../ui';
import { DATASETS } from './datasets';
import { MODELS } from './models';

const EVALUATIONS = /* GraphQL */ `
  query Evaluations($first: Int!, $after: String, $filter: EvaluationJobFilter) {
    evaluationJobs(first: $first, after: $after, filter: $filter) {
      edges {
        node {
          id
          name
          status
          ...EvaluatedModel
          createdAt
          finishedAt
          samplesDone
          dataset {
            name
          }
          results {
            ...Scores
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;
const EVALUATION = /* GraphQL */ `
  query Evaluation($id: ID!, $first: Int!, $after: String, $orderBy: EvaluationSampleOrder) {
    evaluationJob(id: $id) {
      id
      name
      status
      ...EvaluatedModel
      progress
      samplesDone
      samplesTotal
      skippedRows
      error
      createdAt
      finishedAt
      maxNewTokens
      temperature
      topP
      seed
      segmenter
      dataset {
        id
        name
      }
      results {
        ...Scores
      }
      samples(first: $first, after: $after, orderBy: $orderBy) {
        edges {
          node {
            index
            prompt
            reference
            prediction
            scores {
              ...Scores
            }
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`;
const EVALUATION_PROGRESS = /* GraphQL */ `
  subscription EvaluationJobProgress($jobId: ID!) {
    evaluationJobProgress(jobId: $jobId) {
      kind
      status
      progress
      samplesDone
      samplesTotal
    }
  }
`;
const COMPARE = /* GraphQL */ `
  query CompareEvaluations(
    $ids: [ID!]!
    $metric: EvaluationMetric!
    $direction: SortDirection!
    $after: String
  ) {
    compareEvaluations(ids: $ids) {
      sameRows
      evaluations {
        id
        name
        ...EvaluatedModel
      }
      metrics {
        metric
        values
        differences
        bestEvaluationId
      }
      samples(metric: $metric, direction: $direction, first: 20, after: $after) {
        edges {
          node {
            index
            prompt
            reference
            predictions
            values
            difference
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`;
const CREATE_EVALUATION = /* GraphQL */ `
  mutation CreateBaseEvaluation($input: CreateEvaluationJobInput!) {
    createEvaluationJob(input: $input) {
      id
    }
  }
`;

/** What names the model an evaluation scored (see `modelLabel`); a query that selects it is sent with this appended. */
const EVALUATED_MODEL = /* GraphQL */ `
  fragment EvaluatedModel on EvaluationJob {
    modelKind
    baseModel {
      name
    }
    trainingJob {
      id
      name
    }
    checkpoint {
      step
    }
  }
`;
export const modelLabel = (e: EvaluatedModelFragment) =>
  e.trainingJob
    ? `${e.trainingJob.name} @ ${e.checkpoint?.step ?? '?'}`
    : `${e.baseModel.name} (${e.modelKind})`;

function MetricSelect({
  value,
  onChange,
}: {
  value: EvaluationMetric | undefined;
  onChange: (m: EvaluationMetric) => void;
}) {
  const t = useT();
  const { all } = useMetrics();
  return (
    <label>
      {t('metric')}
      <select name="metric" value={value ?? ''} onChange={(e) => onChange(valueOf(e) as EvaluationMetric)}>
        {all.map((m) => (
          <option key={m.metric} value={m.metric} title={m.description}>
            {m.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * How a sample table is ordered (by which metric, which way round) and the page it shows; changing the order
 * goes back to the first page. `header` titles the table and labels the two directions as it means them. The
 * metric is the API's headline metric until one is chosen (undefined until `evaluationMetrics` arrives).
 */
function useSampleOrder() {
  const t = useT();
  const pager = usePager();
  const { headline } = useMetrics();
  const [chosen, setMetric] = useState<EvaluationMetric | null>(null);
  const metric = chosen ?? headline;
  const [direction, setDirection] = useState<SortDirection>('ASC');
  const header = (title: MessageKey, ascending: MessageKey, descending: MessageKey) => (
    <div class="row">
      <h2 class="grow">{t(title)}</h2>
      <MetricSelect value={metric} onChange={(m) => (setMetric(m), pager.reset())} />
      <label>
        {t('order')}
        <select
          value={direction}
          onChange={(ev) => (setDirection(valueOf(ev) as SortDirection), pager.reset())}
        >
          <option value="ASC">{t(ascending)}</option>
          <option value="DESC">{t(descending)}</option>
        </select>
      </label>
    </div>
  );
  return { pager, metric, direction, header };
}

function NewEvaluation() {
  const t = useT();
  const models = useQuery<ModelsQuery>(MODELS);
  const datasets = useQuery<DatasetsQuery>(DATASETS);
  const [modelId, setModelId] = useState('');
  const [datasetId, setDatasetId] = useState('');
  const [maxNewTokens, setMaxNewTokens] = useState('16');
  const [error, setError] = useState<ApiError | null>(null);
  const model = modelId || models.data?.models[0]?.id || '';
  const evaluable = datasets.data?.datasets.filter((d) => d.evaluable) ?? [];
  const dataset = datasetId || evaluable[0]?.id || '';
  const submit = (e: Event) => {
    e.preventDefault();
    const name = `${models.data?.models.find((m) => m.id === model)?.name ?? 'base'} / ${evaluable.find((d) => d.id === dataset)?.name ?? ''}`;
    request<CreateEvaluationJobMutation, CreateEvaluationJobMutationVariables>(CREATE_EVALUATION, {
      input: { name, baseModelId: model, datasetId: dataset, maxNewTokens: Number(maxNewTokens) },
    }).then(
      (r) => location.assign(`/evaluations/${r.createEvaluationJob.id}`),
      (err: ApiError) => setError(err),
    );
  };
  return (
    <section class="card">
      <h2>{t('evaluateBaseModel')}</h2>
      <form class="row" onSubmit={submit}>
        <label>
          {t('model')}
          <select name="model" value={model} onChange={(e) => setModelId(valueOf(e))}>
            {models.data?.models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('dataset')}
          <select name="dataset" value={dataset} onChange={(e) => setDatasetId(valueOf(e))}>
            {evaluable.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('maxNewTokens')}
          <input type="number" min="1" value={maxNewTokens} onInput={(e) => setMaxNewTokens(valueOf(e))} />
        </label>
        <button type="submit" disabled={!model || !dataset}>
          {t('startEvaluation')}
        </button>
      </form>
      <ErrorText error={error} />
    </section>
  );
}

export function EvaluationsPage() {
  const t = useT();
  const { summary } = useMetrics();
  const pager = usePager();
  const [selected, setSelected] = useState<string[]>([]);
  const [status, setStatus] = useState('');
  const filter = status ? { status: [status as EvaluationJobStatus] } : {};
  const q = useQuery<EvaluationsQuery>(EVALUATIONS + SCORES + EVALUATED_MODEL, {
    first: 20,
    after: pager.after,
    filter,
  });
  const toggle = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));
  return (
    <>
      <div class="row">
        <h1 class="grow">{t('navEvaluations')}</h1>
        <a
          class={`button ${selected.length < 2 ? 'disabled' : ''}`}
          href={selected.length >= 2 ? `/evaluations/compare?ids=${selected.join(',')}` : undefined}
        >
          {t('compareSelected', { n: selected.length })}
        </a>
      </div>
      <NewEvaluation />
      <section class="card">
        <div class="row">
          <label>
            {t('status')}
            <select value={status} onChange={(e) => (setStatus(valueOf(e)), pager.reset())}>
              <option value="">{t('all')}</option>
              {Object.values(EvaluationJobStatus).map((s) => (
                <option key={s} value={s}>
                  {t(`status_${s}`)}
                </option>
              ))}
            </select>
          </label>
          <button class="link" onClick={q.reload}>
            {t('refresh')}
          </button>
        </div>
        <ErrorText error={q.error} />
        <table>
          <thead>
            <tr>
              <th />
              <th>{t('name')}</th>
              <th>{t('status')}</th>
              <th>{t('model')}</th>
              <th>{t('dataset')}</th>
              <th class="num">{t('samples')}</th>
              {summary.map((m) => (
                <th key={m.metric} class="num" title={m.description}>
                  {m.label}
                </th>
              ))}
              <th>{t('finished')}</th>
            </tr>
          </thead>
          <tbody>
            {q.data?.evaluationJobs.edges.map(({ node: e }) => (
              <tr key={e.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={t('select')}
                    checked={selected.includes(e.id)}
                    onChange={() => toggle(e.id)}
                  />
                </td>
                <td>
                  <a href={`/evaluations/${e.id}`}>{e.name}</a>
                </td>
                <td>
                  <Status status={e.status} />
                </td>
                <td>{modelLabel(e)}</td>
                <td>{e.dataset.name}</td>
                <td class="num">{e.samplesDone}</td>
                {summary.map((m) => (
                  <td key={m.metric} class="num">
                    {fmt.number(e.results && metricValue(e.results, m.metric))}
                  </td>
                ))}
                <td>{fmt.date(e.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager pager={pager} pageInfo={q.data?.evaluationJobs.pageInfo} />
      </section>
    </>
  );
}

export function EvaluationPage() {
  const t = useT();
  const { id } = useRoute().params;
  const { pager, metric, direction, header } = useSampleOrder();
  const metrics = useMetrics();
  // Beside the metric the samples are ordered by, the ones a summary shows.
  const beside = metrics.summary.filter((m) => m.metric !== metric);
  const q = useQuery<EvaluationQuery>(
    EVALUATION + SCORES + EVALUATED_MODEL,
    {
      id,
      first: 20,
      after: pager.after,
      orderBy: { metric, direction },
    },
    !metric,
  );
  const [live, setLive] = useState<EvaluationJobProgressSubscription['evaluationJobProgress'] | null>(null);
  const { reload } = q;
  useEffect(
    () =>
      subscribe<EvaluationJobProgressSubscription>(
        EVALUATION_PROGRESS,
        { jobId: id },
        {
          next: ({ evaluationJobProgress: e }) => {
            setLive(e);
            if (e.kind !== 'SNAPSHOT') reload();
          },
        },
      ),
    [id, reload],
  );
  const e = q.data?.evaluationJob;
  // Without a metric (evaluationMetrics not here yet) the query waits.
  if (!e || !metric) return q.error ? <ErrorText error={q.error} /> : <Loading />;
  return (
    <>
      <div class="row">
        <h1 class="grow">{e.name}</h1>
        <Status status={live?.status ?? e.status} />
      </div>
      <section class="card">
        <ProgressBar
          value={live?.progress ?? e.progress}
          label={`${live?.samplesDone ?? e.samplesDone} / ${live?.samplesTotal ?? e.samplesTotal ?? '?'}`}
        />
        <dl class="facts">
          <dt>{t('model')}</dt>
          <dd>
            {modelLabel(e)} {e.trainingJob && <a href={`/jobs/${e.trainingJob.id}`}>↗</a>}
          </dd>
          <dt>{t('dataset')}</dt>
          <dd>{e.dataset.name}</dd>
          <dt>{t('sampling')}</dt>
          <dd>
            {t('maxNewTokens')} {e.maxNewTokens} · {t('temperature')} {e.temperature} · top-p {e.topP} · seed{' '}
            {e.seed}
          </dd>
          <dt>{t('skippedRows')}</dt>
          <dd>{e.skippedRows}</dd>
        </dl>
        {e.error && <p class="error">{e.error}</p>}
      </section>
      {e.results && (
        <section class="card">
          <h2>{t('aggregates')}</h2>
          <table class="compact">
            <tbody>
              {e.results.metrics.map((m) => (
                <tr key={m.metric}>
                  <th>{metrics.label(m.metric)}</th>
                  <td class="num">{fmt.number(m.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section class="card">
        {header('samples', 'worstFirst', 'bestFirst')}
        <table class="samples">
          <thead>
            <tr>
              <th class="num">#</th>
              <th>{t('prompt')}</th>
              <th>{t('reference')}</th>
              <th>{t('prediction')}</th>
              <th class="num">{metrics.label(metric)}</th>
              {beside.map((m) => (
                <th key={m.metric} class="num" title={m.description}>
                  {m.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {e.samples.edges.map(({ node: s }) => (
              <tr key={s.index} data-sample={s.index}>
                <td class="num">{s.index}</td>
                <td>
                  <pre>{s.prompt}</pre>
                </td>
                <td>
                  <pre>{s.reference}</pre>
                </td>
                <td>
                  <pre>{s.prediction}</pre>
                </td>
                <td class="num">{fmt.number(metricValue(s.scores, metric))}</td>
                {beside.map((m) => (
                  <td key={m.metric} class="num">
                    {fmt.number(metricValue(s.scores, m.metric))}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        <Pager pager={pager} pageInfo={e.samples.pageInfo} />
      </section>
    </>
  );
}

export function EvaluationComparePage() {
  const t = useT();
  const ids = (useLocation().query.ids ?? '').split(',').filter(Boolean);
  const { pager, metric, direction, header } = useSampleOrder();
  const { label } = useMetrics();
  const q = useQuery<CompareEvaluationsQuery>(
    COMPARE + EVALUATED_MODEL,
    { ids, metric, direction, after: pager.after },
    !metric,
  );
  const c = q.data?.compareEvaluations;
  if (!c) return q.error ? <ErrorText error={q.error} /> : <Loading />;
  return (
    <>
      <h1>{t('compareEvaluations')}</h1>
      {!c.sameRows && <p class="notice">{t('differentRows')}</p>}
      <section class="card">
        <h2>{t('aggregates')}</h2>
        <table class="compact">
          <thead>
            <tr>
              <th>{t('metric')}</th>
              {c.evaluations.map((e) => (
                <th key={e.id} class="num">
                  <a href={`/evaluations/${e.id}`}>{modelLabel(e)}</a>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {c.metrics.map((m) => (
              <tr key={m.metric}>
                <th>{label(m.metric)}</th>
                {m.values.map((v, i) => (
                  <td key={i} class={`num ${c.evaluations[i].id === m.bestEvaluationId ? 'best' : ''}`}>
                    {fmt.number(v)}
                    {i > 0 && <Diff value={m.differences[i]} />}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card">
        {header('pairedSamples', 'regressionsFirst', 'improvementsFirst')}
        <table class="samples">
          <thead>
            <tr>
              <th class="num">#</th>
              <th>{t('prompt')}</th>
              <th>{t('reference')}</th>
              {c.evaluations.map((e) => (
                <th key={e.id}>{modelLabel(e)}</th>
              ))}
              <th class="num">Δ</th>
            </tr>
          </thead>
          <tbody>
            {c.samples.edges.map(({ node: s }) => (
              <tr key={s.index}>
                <td class="num">{s.index}</td>
                <td>
                  <pre>{s.prompt}</pre>
                </td>
                <td>
                  <pre>{s.reference}</pre>
                </td>
                {s.predictions.map((p, i) => (
                  <td key={i} class={i > 0 && p !== s.predictions[0] ? 'changed' : ''}>
                    <pre>{p}</pre>
                    <span class="muted">{fmt.number(s.values[i], 3)}</span>
                  </td>
                ))}
                <td class="num">
                  <Diff value={s.difference} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager pager={pager} pageInfo={c.samples.pageInfo} />
      </section>
    </>
  );
}

function Diff({ value }: { value: number }) {
  if (value === 0) return <span class="diff"> ±0</span>;
  return (
    <span class={`diff ${value > 0 ? 'up' : 'down'}`}>
      {' '}
      {value > 0 ? `+${fmt.number(value, 3)}` : fmt.number(value, 3)}
    </span>
  );
}
