import { useRoute } from 'preact-iso';
import { useState } from 'preact/hooks';
import { ApiError, uploadDataset } from '../api';
import { DatasetKind, type DatasetQuery, type DatasetsQuery } from '../gql';
import { useT } from '../i18n';
import { ErrorText, fmt, Loading, ProgressBar, useQuery, valueOf } from '../ui';

export const DATASETS = /* GraphQL */ `
  query Datasets {
    datasets {
      id
      name
      kind
      evaluable
      rowCount
      trainRowCount
      validationRowCount
      validationSplitRatio
      source
      createdAt
    }
  }
`;
const DATASET = /* GraphQL */ `
  query Dataset($id: ID!, $offset: Int!, $validation: Boolean!) {
    dataset(id: $id) {
      id
      name
      kind
      rowCount
      trainRowCount
      validationRowCount
      validationSplitRatio
      splitSeed
      source
      createdAt
      rows(limit: 20, offset: $offset, validation: $validation)
    }
  }
`;
function Upload({ onDone }: { onDone: () => void }) {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<DatasetKind>(DatasetKind.SFT);
  const [ratio, setRatio] = useState('0');
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setProgress(0);
    try {
      const settings = {
        name: name || file.name.replace(/\.jsonl?$/, ''),
        kind,
        validationSplitRatio: ratio,
      };
      await uploadDataset(file, settings, setProgress);
      setFile(null);
      setName('');
      onDone();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setProgress(null);
    }
  };
  return (
    <section class="card">
      <h2>{t('uploadDataset')}</h2>
      <p class="muted">{t('uploadHint')}</p>
      <form class="row" onSubmit={submit}>
        <input
          type="file"
          name="file"
          accept=".jsonl,.json,application/jsonl"
          onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)}
        />
        <input placeholder={t('name')} value={name} onInput={(e) => setName(valueOf(e))} />
        <label>
          {t('kind')}
          <select value={kind} onChange={(e) => setKind(valueOf(e) as DatasetKind)}>
            {Object.values(DatasetKind).map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          {t('validationRatio')}
          <input
            type="number"
            min="0"
            max="0.5"
            step="0.05"
            value={ratio}
            onInput={(e) => setRatio(valueOf(e))}
          />
        </label>
        <button type="submit" disabled={!file || progress !== null}>
          {t('upload')}
        </button>
      </form>
      {progress !== null && <ProgressBar value={progress} />}
      <ErrorText error={error} />
    </section>
  );
}

export function DatasetsPage() {
  const t = useT();
  const datasets = useQuery<DatasetsQuery>(DATASETS);
  return (
    <>
      <h1>{t('navDatasets')}</h1>
      <Upload onDone={datasets.reload} />
      <section class="card">
        <ErrorText error={datasets.error} />
        <table>
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('kind')}</th>
              <th class="num">{t('rows')}</th>
              <th class="num">{t('trainRows')}</th>
              <th class="num">{t('validationRows')}</th>
              <th>{t('created')}</th>
            </tr>
          </thead>
          <tbody>
            {datasets.data?.datasets.map((d) => (
              <tr key={d.id}>
                <td>
                  <a href={`/datasets/${d.id}`}>{d.name}</a>
                </td>
                <td>{d.kind}</td>
                <td class="num">{d.rowCount}</td>
                <td class="num">{d.trainRowCount}</td>
                <td class="num">{d.validationRowCount}</td>
                <td>{fmt.date(d.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

export function DatasetPage() {
  const t = useT();
  const { id } = useRoute().params;
  const [offset, setOffset] = useState(0);
  const [validation, setValidation] = useState(false);
  const q = useQuery<DatasetQuery>(DATASET, { id, offset, validation });
  const d = q.data?.dataset;
  if (!d) return q.error ? <ErrorText error={q.error} /> : <Loading />;
  const splitRows = validation ? d.validationRowCount : d.trainRowCount;
  return (
    <>
      <h1>{d.name}</h1>
      <section class="card">
        <dl class="facts">
          <dt>{t('kind')}</dt>
          <dd>{d.kind}</dd>
          <dt>{t('rows')}</dt>
          <dd>{d.rowCount}</dd>
          <dt>{t('splits')}</dt>
          <dd>
            {t('trainRows')} {d.trainRowCount} · {t('validationRows')} {d.validationRowCount} (
            {t('validationRatio')} {d.validationSplitRatio}, seed {d.splitSeed})
          </dd>
          <dt>{t('source')}</dt>
          <dd>{d.source}</dd>
        </dl>
      </section>
      <section class="card">
        <div class="row">
          <h2 class="grow">{t('preview')}</h2>
          <label>
            <input
              type="checkbox"
              checked={validation}
              onChange={(e) => (setValidation((e.currentTarget as HTMLInputElement).checked), setOffset(0))}
            />
            {t('validationRows')}
          </label>
        </div>
        <table class="rows">
          <thead>
            <tr>
              <th class="num">#</th>
              <th>{t('row')}</th>
            </tr>
          </thead>
          <tbody>
            {d.rows.map((row, i) => (
              <tr key={offset + i}>
                <td class="num">{offset + i + 1}</td>
                <td>
                  <pre>{JSON.stringify(row, null, 1)}</pre>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div class="pager">
          <button disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - 20))}>
            {t('previous')}
          </button>
          <span>
            {splitRows ? offset + 1 : 0}–{Math.min(offset + 20, splitRows)} / {splitRows}
          </span>
          <button disabled={offset + 20 >= splitRows} onClick={() => setOffset(offset + 20)}>
            {t('next')}
          </button>
        </div>
      </section>
    </>
  );
}
