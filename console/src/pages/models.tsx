import { useState } from 'preact/hooks';
import { ApiError, request } from '../api';
import type { ModelsQuery, RegisterModelMutationVariables } from '../gql';
import { useT } from '../i18n';
import { ErrorText, fmt, useQuery, valueOf } from '../ui';

export const MODELS = /* GraphQL */ `
  query Models {
    models {
      id
      name
      path
      architecture
      modelType
      parameterCount
      maxSequenceLength
      vocabularySize
      createdAt
    }
  }
`;
const REGISTER_MODEL = /* GraphQL */ `
  mutation RegisterModel($input: RegisterModelInput!) {
    registerModel(input: $input) {
      id
    }
  }
`;

export function ModelsPage() {
  const t = useT();
  const models = useQuery<ModelsQuery>(MODELS);
  const [name, setName] = useState('');
  const [path, setPath] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const register = (e: Event) => {
    e.preventDefault();
    setError(null);
    request<unknown, RegisterModelMutationVariables>(REGISTER_MODEL, { input: { name, path } }).then(
      () => (setName(''), setPath(''), models.reload()),
      (err: ApiError) => setError(err),
    );
  };
  return (
    <>
      <h1>{t('navModels')}</h1>
      <section class="card">
        <ErrorText error={models.error} />
        <table>
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('family')}</th>
              <th>{t('architecture')}</th>
              <th class="num">{t('parameters')}</th>
              <th class="num">{t('maxPositions')}</th>
              <th class="num">{t('vocabulary')}</th>
              <th>{t('path')}</th>
            </tr>
          </thead>
          <tbody>
            {models.data?.models.map((m) => (
              <tr key={m.id}>
                <td>{m.name}</td>
                <td>{m.modelType}</td>
                <td>{m.architecture}</td>
                <td class="num">{fmt.params(m.parameterCount)}</td>
                <td class="num">{m.maxSequenceLength.toLocaleString()}</td>
                <td class="num">{m.vocabularySize.toLocaleString()}</td>
                <td>
                  <code>{m.path}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>{t('registerModel')}</h2>
        <p class="muted">{t('registerHint')}</p>
        <form class="row" onSubmit={register}>
          <input placeholder={t('name')} value={name} onInput={(e) => setName(valueOf(e))} />
          <input
            class="grow"
            placeholder="/path/to/hf-folder"
            value={path}
            onInput={(e) => setPath(valueOf(e))}
          />
          <button type="submit" disabled={!name || !path}>
            {t('register')}
          </button>
        </form>
        <ErrorText error={error} />
      </section>
    </>
  );
}
