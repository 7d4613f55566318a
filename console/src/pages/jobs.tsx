import { useEffect, useState } from 'preact/hooks';
import { subscribe } from '../api';
import {
  TrainingJobStatus,
  TrainingMethod,
  type ModelsQuery,
  type TrainingJobsQuery,
  type TrainingJobsQueryVariables,
  type TrainingJobStatusChangedSubscription,
} from '../gql';
import { useT } from '../i18n';
import { ErrorText, fmt, Pager, ProgressBar, Select, Status, usePager, useQuery } from '../ui';
import { MODELS } from './models';

const TRAINING_JOBS = /* GraphQL */ `
  query TrainingJobs($first: Int!, $after: String, $filter: TrainingJobFilter) {
    trainingJobs(first: $first, after: $after, filter: $filter) {
      edges {
        node {
          id
          name
          status
          method
          parameterScale
          progress
          step
          totalSteps
          latestLoss
          createdAt
          baseModel {
            id
            name
          }
          dataset {
            id
            name
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
const STATUS_CHANGED = /* GraphQL */ `
  subscription TrainingJobStatusChanged {
    trainingJobStatusChanged {
      jobId
      status
    }
  }
`;
const PAGE_SIZE = 20;

export function JobsPage() {
  const t = useT();
  const [status, setStatus] = useState('');
  const [method, setMethod] = useState('');
  const [model, setModel] = useState('');
  const [selected, setSelected] = useState<string[]>([]);
  const [live, setLive] = useState<Record<string, TrainingJobStatus>>({});
  const pager = usePager();
  const filter: TrainingJobsQueryVariables['filter'] = {
    ...(status && { status: [status as TrainingJobStatus] }),
    ...(method && { method: [method as TrainingMethod] }),
    ...(model && { baseModelId: model }),
  };
  const jobs = useQuery<TrainingJobsQuery>(TRAINING_JOBS, { first: PAGE_SIZE, after: pager.after, filter });
  const models = useQuery<ModelsQuery>(MODELS);
  const { reload } = jobs;
  const edges = jobs.data?.trainingJobs.edges ?? [];

  useEffect(
    () =>
      subscribe<TrainingJobStatusChangedSubscription>(
        STATUS_CHANGED,
        {},
        {
          next: ({ trainingJobStatusChanged: e }) => {
            if (e.status === 'QUEUED' || e.status === 'SUCCEEDED') reload();
            setLive((s) => ({ ...s, [e.jobId]: e.status }));
          },
        },
      ),
    [reload],
  );
  useEffect(() => setLive({}), [jobs.data]);

  const filterSelect = (
    label: string,
    value: string,
    set: (v: string) => void,
    options: [string, string][],
  ) => (
    <Select
      label={label}
      value={value}
      onChange={(v) => (set(v), pager.reset())}
      options={options}
      all={t('all')}
    />
  );
  const toggle = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : s.length < 5 ? [...s, id] : s));

  return (
    <>
      <div class="row">
        <h1 class="grow">{t('navJobs')}</h1>
        <a class="button" href="/jobs/new">
          {t('newJob')}
        </a>
      </div>
      <section class="card">
        <div class="row">
          {filterSelect(
            t('status'),
            status,
            setStatus,
            Object.values(TrainingJobStatus).map((s) => [s, t(`status_${s}`)]),
          )}
          {filterSelect(
            t('method'),
            method,
            setMethod,
            Object.values(TrainingMethod).map((m) => [m, m]),
          )}
          {filterSelect(
            t('model'),
            model,
            setModel,
            (models.data?.models ?? []).map((m) => [m.id, m.name]),
          )}
          <span class="grow" />
          <a
            class={`button ${selected.length < 2 ? 'disabled' : ''}`}
            href={selected.length >= 2 ? `/jobs/compare?ids=${selected.join(',')}` : undefined}
          >
            {t('compareSelected', { n: selected.length })}
          </a>
        </div>
        <ErrorText error={jobs.error} />
        <table>
          <thead>
            <tr>
              <th />
              <th>{t('name')}</th>
              <th>{t('status')}</th>
              <th>{t('method')}</th>
              <th>{t('model')}</th>
              <th>{t('dataset')}</th>
              <th>{t('progress')}</th>
              <th class="num">{t('loss')}</th>
              <th>{t('created')}</th>
            </tr>
          </thead>
          <tbody>
            {edges.map(({ node: j }) => (
              <tr key={j.id} data-job={j.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={t('select')}
                    checked={selected.includes(j.id)}
                    onChange={() => toggle(j.id)}
                  />
                </td>
                <td>
                  <a href={`/jobs/${j.id}`}>{j.name}</a>
                </td>
                <td>
                  <Status status={live[j.id] ?? j.status} />
                </td>
                <td>
                  {j.method} · {j.parameterScale}
                </td>
                <td>{j.baseModel.name}</td>
                <td>{j.dataset.name}</td>
                <td class="narrow">
                  <ProgressBar value={j.progress} label={`${j.step}/${j.totalSteps ?? '?'}`} />
                </td>
                <td class="num">{fmt.number(j.latestLoss)}</td>
                <td>{fmt.date(j.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager pager={pager} pageInfo={jobs.data?.trainingJobs.pageInfo} />
      </section>
    </>
  );
}
