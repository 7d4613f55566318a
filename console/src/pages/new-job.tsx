import { useEffect, useState } from 'preact/hooks';
import { ApiError, request } from '../api';
import {
  ParameterScale,
  TrainingMethod,
  type CreateTrainingJobMutation,
  type CreateTrainingJobMutationVariables,
  type DatasetsQuery,
  type ModelsQuery,
  type TrainingMethodsQuery,
} from '../gql';
import { useT } from '../i18n';
import { specification, type HyperparameterField } from '../spec';
import { ErrorText, Select, useQuery, valueOf } from '../ui';
import { DATASETS } from './datasets';
import { MODELS } from './models';

const CREATE_JOB = /* GraphQL */ `
  mutation CreateTrainingJob($input: CreateTrainingJobInput!) {
    createTrainingJob(input: $input) {
      id
    }
  }
`;
/** What each method trains on and with, as the API says (createTrainingJob refuses anything else). */
const TRAINING_METHODS = /* GraphQL */ `
  query TrainingMethods {
    trainingMethods {
      method
      datasetKind
      parameterScales
    }
  }
`;

/** The text a field's input shows for a value (lists as comma-separated names). */
const show = (v: unknown) =>
  v === null || v === undefined ? '' : Array.isArray(v) ? v.join(', ') : String(v);

/** The value a field's input text stands for, in the type the API takes. */
function parse(field: HyperparameterField, text: string): unknown {
  if (field.type === 'BOOLEAN') return text === 'true';
  if (field.type === 'INT' || field.type === 'FLOAT') return Number(text);
  if (field.type === 'STRING_LIST')
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return text;
}

function range(f: HyperparameterField): string {
  if (f.minimum === null && f.maximum === null) return '';
  return `${f.minimumExclusive ? '(' : '['}${f.minimum ?? '−∞'}, ${f.maximum ?? '∞'}]`;
}

function FieldInput({
  field,
  value,
  onChange,
}: {
  field: HyperparameterField;
  value: string;
  onChange: (v: string) => void;
}) {
  const props = {
    name: field.name,
    value,
    placeholder: show(field.default),
    onInput: (e: Event) => onChange(valueOf(e)),
  };
  if (field.type === 'BOOLEAN' || field.type === 'ENUM')
    return (
      <select {...props} onChange={props.onInput}>
        <option value="">{show(field.default) || '—'}</option>
        {(field.type === 'BOOLEAN' ? ['true', 'false'] : (field.allowedValues ?? [])).map((v) => (
          <option key={v}>{v}</option>
        ))}
      </select>
    );
  if (field.type === 'INT' || field.type === 'FLOAT')
    return (
      <input
        type="number"
        step={field.type === 'INT' ? 1 : 'any'}
        min={field.minimum ?? undefined}
        max={field.maximum ?? undefined}
        {...props}
      />
    );
  return <input type="text" maxLength={field.maxLength ?? undefined} {...props} />;
}

export function NewJobPage() {
  const t = useT();
  const models = useQuery<ModelsQuery>(MODELS);
  const datasets = useQuery<DatasetsQuery>(DATASETS);
  const [name, setName] = useState('');
  const methods = useQuery<TrainingMethodsQuery>(TRAINING_METHODS);
  const [method, setMethod] = useState<TrainingMethod>(TrainingMethod.SFT);
  const [chosenScale, setScale] = useState<ParameterScale>(ParameterScale.LORA);
  const [modelId, setModelId] = useState('');
  const [datasetId, setDatasetId] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [fields, setFields] = useState<HyperparameterField[]>([]);
  const [rules, setRules] = useState<string[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const model = modelId || models.data?.models[0]?.id || '';
  const info = methods.data?.trainingMethods.find((m) => m.method === method);
  const scales = info?.parameterScales ?? [];
  const scale = scales.includes(chosenScale) ? chosenScale : (scales[0] ?? chosenScale);
  const usable = datasets.data?.datasets.filter((d) => d.kind === info?.datasetKind) ?? [];
  const dataset = usable.some((d) => d.id === datasetId) ? datasetId : (usable[0]?.id ?? '');

  useEffect(() => {
    specification({ method, parameterScale: scale, baseModelId: model || null }).then(
      (s) => (setFields(s.fields.filter((f) => f.applies)), setRules(s.rules.map((r) => r.description))),
      (e: ApiError) => setError(e),
    );
  }, [method, scale, model]);

  const submit = (e: Event) => {
    e.preventDefault();
    setError(null);
    const hyperparameters: Record<string, unknown> = {};
    for (const f of fields)
      if (values[f.name]?.trim()) hyperparameters[f.name] = parse(f, values[f.name].trim());
    request<CreateTrainingJobMutation, CreateTrainingJobMutationVariables>(CREATE_JOB, {
      input: { name, method, parameterScale: scale, baseModelId: model, datasetId: dataset, hyperparameters },
    }).then(
      (r) => location.assign(`/jobs/${r.createTrainingJob.id}`),
      (err: ApiError) => setError(err),
    );
  };
  return (
    <form onSubmit={submit}>
      <h1>{t('newJob')}</h1>
      <section class="card grid2">
        <label>
          {t('name')}
          <input name="name" value={name} onInput={(e) => setName(valueOf(e))} />
        </label>
        <Select
          label={t('method')}
          value={method}
          onChange={setMethod}
          options={(methods.data?.trainingMethods ?? []).map(({ method: m }) => [m, m])}
          name="method"
        />
        <Select
          label={t('parameterScale')}
          value={scale}
          onChange={setScale}
          options={scales.map((s) => [s, s])}
          name="parameterScale"
        />
        <Select
          label={t('model')}
          value={model}
          onChange={setModelId}
          options={(models.data?.models ?? []).map((m) => [m.id, m.name])}
          name="model"
        />
        <Select
          label={t('dataset')}
          value={dataset}
          onChange={setDatasetId}
          options={usable.map((d) => [d.id, `${d.name} (${d.rowCount})`])}
          name="dataset"
        />
      </section>
      <section class="card">
        <h2>{t('hyperparameters')}</h2>
        <p class="muted">{t('hyperparametersHint')}</p>
        <table class="form-table">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('value')}</th>
              <th>{t('default')}</th>
              <th>{t('range')}</th>
              <th>{t('description')}</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((f) => (
              <tr key={f.name} data-field={f.name}>
                <td>
                  <code>{f.name}</code>
                </td>
                <td>
                  <FieldInput
                    field={f}
                    value={values[f.name] ?? ''}
                    onChange={(v) => setValues({ ...values, [f.name]: v })}
                  />
                </td>
                <td title={f.defaultDescription}>{show(f.default) || f.defaultDescription}</td>
                <td>{range(f)}</td>
                <td class="muted">{f.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rules.length > 0 && (
          <ul class="muted">
            {rules.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        )}
      </section>
      <ErrorText error={error ?? methods.error} />
      <button type="submit" disabled={!name || !model || !dataset}>
        {t('createJob')}
      </button>
    </form>
  );
}
