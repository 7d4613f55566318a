import { useRoute } from 'preact-iso';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { ApiError, download, prefetch, request, subscribe } from '../api';
import { Chart, smooth, useSmoothing } from '../chart';
import type {
  CancelTrainingJobMutationVariables,
  CreateEvaluationJobMutation,
  CreateEvaluationJobMutationVariables,
  DatasetsQuery,
  JobHistoryQuery,
  JobQuery,
  ResumeTrainingJobMutationVariables,
  TrainingJobProgressSubscription,
} from '../gql';
import { PACKED_STEPS, PREVIEW_POINTS, StepHistory } from '../history';
import { useT } from '../i18n';
import { ErrorText, fmt, Loading, ProgressBar, Status, useQuery, valueOf } from '../ui';
import { DATASETS } from './datasets';

export const JOB = /* GraphQL */ `
  query Job($id: ID!) {
    trainingJob(id: $id) {
      id
      name
      status
      method
      parameterScale
      progress
      step
      totalSteps
      epoch
      attempts
      error
      cancelRequested
      canCancel
      canResume
      createdAt
      startedAt
      finishedAt
      latestLoss
      baseModel {
        id
        name
      }
      dataset {
        id
        name
      }
      attemptHistory {
        number
        workerId
        startedAt
        endedAt
        outcome
        cause
      }
      hyperparameters {
        epochs
      }
      checkpoints {
        id
        step
        createdAt
        metrics
        downloadUrl
      }
    }
  }
`;
const JOB_HISTORY = /* GraphQL */ `
  query JobHistory($id: ID!, $maxPoints: Int) {
    trainingJob(id: $id) {
      packedMetricSeries(maxPoints: $maxPoints) {
        ...PackedSteps
      }
    }
  }
`;
/** JOB_HISTORY as sent (and prefetched). */
const HISTORY = JOB_HISTORY + PACKED_STEPS;
const PROGRESS = /* GraphQL */ `
  subscription TrainingJobProgress($jobId: ID!) {
    trainingJobProgress(jobId: $jobId) {
      kind
      status
      step
      totalSteps
      epoch
      progress
      loss
      learningRate
      gradNorm
      tokensPerSecond
      etaSeconds
      elapsedSeconds
      error
      extra
      at
    }
  }
`;
const CANCEL = /* GraphQL */ `
  mutation CancelTrainingJob($id: ID!) {
    cancelTrainingJob(id: $id) {
      id
      status
      cancelRequested
    }
  }
`;
const RESUME = /* GraphQL */ `
  mutation ResumeTrainingJob($id: ID!, $checkpointId: ID!) {
    resumeTrainingJob(id: $id, checkpointId: $checkpointId) {
      id
      status
    }
  }
`;
const CREATE_EVALUATION = /* GraphQL */ `
  mutation CreateEvaluationJob($input: CreateEvaluationJobInput!) {
    createEvaluationJob(input: $input) {
      id
    }
  }
`;
type Job = JobQuery['trainingJob'];
type Progress = TrainingJobProgressSubscription['trainingJobProgress'];

/** The first read of a long history is a preview; the whole history follows. */
const historyVariables = (id: string, preview: boolean) => ({
  id,
  maxPoints: preview ? PREVIEW_POINTS : null,
});

/** At start, on a job's address: sends the page's first reads (the job, the history's preview) at once. */
export function prefetchJobPage(path: string): void {
  const id = /^\/jobs\/([0-9a-f-]{36})$/i.exec(path)?.[1];
  if (!id) return;
  prefetch(HISTORY, historyVariables(id, true));
  prefetch(JOB, { id });
}

/** How often, and how many times, the history is read again while it misses steps the workers have not written yet. */
const REFILL_MS = 1000;
const REFILL_TRIES = 30;

/**
 * Stored history first (a downsampled preview at once, then every step), then the pushed steps. The subscription starts first; its steps are kept until the stored
 * history reaches them. Workers store steps in batches, so the newest steps the subscription's snapshot counts may
 * not be stored yet: the history is read again until it holds every step up to the snapshot's.
 */
function useLiveHistory(id: string, session: number) {
  const history = useRef(new StepHistory());
  const latest = useRef<Progress | null>(null);
  const [version, setVersion] = useState(0);
  const [events, setEvents] = useState<Progress[]>([]);
  useEffect(() => {
    history.current = new StepHistory();
    latest.current = null;
    let pending: Progress[] | null = [];
    let snapshotStep: number | null = null;
    let loaded = false;
    let frame = 0;
    let timer = 0;
    let live = true;
    // However fast steps arrive, the page renders at most once per frame.
    const redraw = () => (frame ||= requestAnimationFrame(() => ((frame = 0), setVersion((v) => v + 1))));
    /** Done once the history is whole up to the snapshot; otherwise read it again shortly (when read at all). */
    const settle = (tries: number) => {
      if (!pending || !loaded || snapshotStep === null || timer) return;
      const h = history.current;
      if ((h.complete && h.lastStep >= snapshotStep) || tries >= REFILL_TRIES) pending = null;
      else timer = window.setTimeout(() => ((timer = 0), load(tries + 1)), REFILL_MS);
    };
    const load = (tries: number, preview = false) =>
      request<JobHistoryQuery>(HISTORY, historyVariables(id, preview)).then((r) => {
        if (!live || !pending || (preview && loaded)) return;
        const stored = new StepHistory();
        stored.load(r.trainingJob.packedMetricSeries);
        pending.forEach((e) => stored.push(e));
        history.current = stored;
        if (!preview) {
          loaded = true;
          settle(tries);
        }
        redraw();
      });
    const stop = subscribe<TrainingJobProgressSubscription>(
      PROGRESS,
      { jobId: id },
      {
        next: ({ trainingJobProgress: e }) => {
          latest.current = e;
          if (e.kind === 'SNAPSHOT') {
            snapshotStep = e.step;
            settle(0);
          }
          if (e.kind === 'STATUS') setEvents((list) => [...list, e]);
          if (e.kind === 'STEP') {
            pending?.push(e);
            history.current.push(e);
          }
          redraw();
        },
      },
    );
    // The whole history after the preview: asked together they share the CPU, and bench:console measured both
    // later on the 2-core machine (whole history drawn at 2.0-2.1 s against 1.7-1.8 s).
    void load(0, true).finally(() => load(0));
    return () => {
      live = false;
      stop();
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [id, session]);
  return { history: history.current, version, latest: latest.current, events };
}

function Curves({ job, history, version }: { job: Job; history: StepHistory; version: number }) {
  const t = useT();
  const [smoothing, smoothingSlider] = useSmoothing();
  const [log, setLog] = useState(false);
  const [axis, setAxis] = useState<'step' | 'epoch'>('step');
  const stepsPerEpoch =
    job.totalSteps && job.hyperparameters.epochs ? job.totalSteps / job.hyperparameters.epochs : 0;
  const x = useMemo(
    () => (axis === 'epoch' && stepsPerEpoch ? history.step.map((s) => s / stepsPerEpoch) : history.step),
    [axis, stepsPerEpoch, history, version],
  );
  const xLabel = axis === 'epoch' ? t('epoch') : t('step');
  const c = history.columns;
  const evalNames = [...history.evals.keys()].filter((n) => n !== 'eval_loss');
  const lossSeries = [
    smooth(c.loss, smoothing),
    ...(history.evals.has('eval_loss') ? [history.evals.get('eval_loss') ?? []] : []),
  ];
  const charts: { title: string; labels: string[]; data: uPlot.AlignedData; log?: boolean }[] = [
    {
      title: t('loss'),
      labels: [t('trainLoss'), t('evalLoss')].slice(0, lossSeries.length),
      data: [x, ...lossSeries],
      log,
    },
    { title: t('learningRate'), labels: [t('learningRate')], data: [x, c.learningRate] },
    { title: t('gradNorm'), labels: [t('gradNorm')], data: [x, smooth(c.gradNorm, smoothing)], log },
    {
      title: t('tokensPerSecond'),
      labels: [t('tokensPerSecond')],
      data: [x, smooth(c.tokensPerSecond, smoothing)],
    },
  ];
  if (evalNames.length)
    charts.push({
      title: t('evalMetrics'),
      labels: evalNames,
      data: [x, ...evalNames.map((n) => history.evals.get(n) ?? [])],
    });
  return (
    <section class="card">
      <div class="row">
        <h2 class="grow">{t('curves')}</h2>
        {smoothingSlider}
        <label>
          <input
            type="checkbox"
            checked={log}
            onChange={(e) => setLog((e.currentTarget as HTMLInputElement).checked)}
          />
          {t('logScale')}
        </label>
        <label>
          {t('xAxis')}
          <select value={axis} onChange={(e) => setAxis(valueOf(e) as 'step' | 'epoch')}>
            <option value="step">{t('step')}</option>
            <option value="epoch">{t('epoch')}</option>
          </select>
        </label>
      </div>
      <div class="charts" data-testid="charts" data-steps={history.step.length}>
        {/* The loss first: the others draw after it, so a long history shows its loss curve sooner. */}
        {charts.map((ch, i) => (
          <Chart
            key={ch.title}
            title={ch.title}
            labels={ch.labels}
            data={ch.data}
            xLabel={xLabel}
            log={ch.log}
            version={version}
            deferred={i > 0}
          />
        ))}
      </div>
    </section>
  );
}

function Evaluate({ job, checkpointId, onClose }: { job: Job; checkpointId: string; onClose: () => void }) {
  const t = useT();
  const datasets = useQuery<DatasetsQuery>(DATASETS);
  const [datasetId, setDatasetId] = useState(job.dataset.id);
  const [maxNewTokens, setMaxNewTokens] = useState('16');
  const [error, setError] = useState<ApiError | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    const input: CreateEvaluationJobMutationVariables['input'] = {
      name: `${job.name} @ ${job.checkpoints.find((c) => c.id === checkpointId)?.step ?? ''}`,
      baseModelId: job.baseModel.id,
      trainingJobId: job.id,
      checkpointId,
      datasetId,
      maxNewTokens: Number(maxNewTokens),
    };
    request<CreateEvaluationJobMutation, CreateEvaluationJobMutationVariables>(CREATE_EVALUATION, {
      input,
    }).then(
      (r) => location.assign(`/evaluations/${r.createEvaluationJob.id}`),
      (err: ApiError) => setError(err),
    );
  };
  return (
    <form class="row inset" onSubmit={submit}>
      <label>
        {t('dataset')}
        <select value={datasetId} onChange={(e) => setDatasetId(valueOf(e))}>
          {datasets.data?.datasets
            .filter((d) => d.evaluable)
            .map((d) => (
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
      <button type="submit">{t('startEvaluation')}</button>
      <button type="button" class="link" onClick={onClose}>
        {t('close')}
      </button>
      <ErrorText error={error} />
    </form>
  );
}

function Checkpoints({ job, resumable, onResumed }: { job: Job; resumable: boolean; onResumed: () => void }) {
  const t = useT();
  const [evaluating, setEvaluating] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const resume = (checkpointId: string) =>
    request<unknown, ResumeTrainingJobMutationVariables>(RESUME, { id: job.id, checkpointId }).then(
      onResumed,
      (e: ApiError) => setError(e),
    );
  return (
    <section class="card">
      <h2>{t('checkpoints')}</h2>
      <ErrorText error={error} />
      <table>
        <thead>
          <tr>
            <th class="num">{t('step')}</th>
            <th>{t('created')}</th>
            <th>{t('metrics')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {job.checkpoints.map((c) => (
            <tr key={c.id} data-checkpoint={c.step}>
              <td class="num">{c.step}</td>
              <td>{fmt.date(c.createdAt)}</td>
              <td>
                <code>{JSON.stringify(c.metrics)}</code>
              </td>
              <td class="actions">
                <button
                  onClick={() =>
                    download(c.downloadUrl, `${job.name}-step-${c.step}.tar`).catch((e: ApiError) =>
                      setError(e),
                    )
                  }
                >
                  {t('download')}
                </button>
                <button disabled={!resumable} onClick={() => resume(c.id)}>
                  {t('resumeHere')}
                </button>
                <button onClick={() => setEvaluating(c.id)}>{t('evaluate')}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {evaluating && <Evaluate job={job} checkpointId={evaluating} onClose={() => setEvaluating(null)} />}
    </section>
  );
}

export function JobPage() {
  const t = useT();
  const { id } = useRoute().params;
  const [session, setSession] = useState(0);
  const q = useQuery<JobQuery>(JOB, { id });
  const { history, version, latest, events } = useLiveHistory(id, session);
  const [error, setError] = useState<ApiError | null>(null);
  const { reload } = q;
  const job = q.data?.trainingJob;
  // The first live status differs from the job as read: the job changed in between.
  const snapshotNewer = latest?.kind === 'SNAPSHOT' && job !== undefined && latest.status !== job.status;
  // A status change (or that): read the job again (checkpoints, error, finish time, what it allows now).
  useEffect(() => {
    if (events.length || snapshotNewer) reload();
  }, [events, snapshotNewer, reload]);
  if (!job) return q.error ? <ErrorText error={q.error} /> : <Loading />;
  const status = latest?.status ?? job.status;
  // What the API says the job allows; nothing while a status heard live is not read back yet.
  const readBack = status === job.status;
  const progress = latest?.progress ?? job.progress;
  const step = latest?.step ?? job.step;
  const cancel = () =>
    request<unknown, CancelTrainingJobMutationVariables>(CANCEL, { id }).then(reload, (e: ApiError) =>
      setError(e),
    );
  return (
    <>
      <div class="row">
        <h1 class="grow">{job.name}</h1>
        <Status status={status} />
        <button class="danger" disabled={!(readBack && job.canCancel)} onClick={cancel}>
          {t('cancel')}
        </button>
      </div>
      <ErrorText error={error} />
      <section class="card">
        <ProgressBar
          value={progress}
          label={`${t('step')} ${step} / ${latest?.totalSteps ?? job.totalSteps ?? '?'} · ${t('eta')} ${
            status === 'RUNNING' ? fmt.duration(latest?.etaSeconds) : '—'
          }`}
        />
        <dl class="facts">
          <dt>{t('method')}</dt>
          <dd>
            {job.method} · {job.parameterScale}
          </dd>
          <dt>{t('model')}</dt>
          <dd>{job.baseModel.name}</dd>
          <dt>{t('dataset')}</dt>
          <dd>
            <a href={`/datasets/${job.dataset.id}`}>{job.dataset.name}</a>
          </dd>
          <dt>{t('loss')}</dt>
          <dd data-testid="latest-loss">{fmt.number(latest?.loss ?? job.latestLoss)}</dd>
          <dt>{t('tokensPerSecond')}</dt>
          <dd>{fmt.number(latest?.tokensPerSecond, 5)}</dd>
        </dl>
      </section>
      <Curves job={job} history={history} version={version} />
      <section class="card">
        <h2>{t('statusHistory')}</h2>
        <dl class="facts">
          <dt>{t('created')}</dt>
          <dd>{fmt.date(job.createdAt)}</dd>
          <dt>{t('started')}</dt>
          <dd>{fmt.date(job.startedAt)}</dd>
          <dt>{t('finished')}</dt>
          <dd>{fmt.date(job.finishedAt)}</dd>
          <dt>{t('attempts')}</dt>
          <dd>{job.attempts}</dd>
        </dl>
        {job.error && <p class="error">{job.error}</p>}
        <table class="compact" data-testid="attempts">
          <thead>
            <tr>
              <th class="num">#</th>
              <th>{t('worker')}</th>
              <th>{t('started')}</th>
              <th>{t('finished')}</th>
              <th>{t('outcome')}</th>
              <th>{t('cause')}</th>
            </tr>
          </thead>
          <tbody>
            {job.attemptHistory.map((a) => (
              <tr key={a.number}>
                <td class="num">{a.number}</td>
                <td>
                  <code>{a.workerId}</code>
                </td>
                <td>{fmt.date(a.startedAt)}</td>
                <td>{fmt.date(a.endedAt)}</td>
                <td>{a.outcome ?? '…'}</td>
                <td class="error">{a.cause}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <ul class="events">
          {events.map((e) => (
            <li key={e.at}>
              {fmt.date(e.at)} <Status status={e.status} /> {e.error}
            </li>
          ))}
        </ul>
      </section>
      <Checkpoints
        job={job}
        resumable={readBack && job.canResume}
        onResumed={() => (setSession((s) => s + 1), reload())}
      />
    </>
  );
}
