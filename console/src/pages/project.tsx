import { useState } from 'preact/hooks';
import { ApiError, request } from '../api';
import type { Viewer } from '../app';
import type {
  ApiKeyRole,
  ApiKeysQuery,
  CreateApiKeyMutation,
  CreateApiKeyMutationVariables,
  RevokeApiKeyMutationVariables,
} from '../gql';
import { useT } from '../i18n';
import { ErrorText, fmt, useQuery, valueOf } from '../ui';

const API_KEYS = /* GraphQL */ `
  query ApiKeys {
    apiKeys {
      id
      name
      role
      keyPrefix
      createdAt
      lastUsedAt
      revokedAt
    }
  }
`;
const CREATE_API_KEY = /* GraphQL */ `
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      secret
      apiKey {
        id
      }
    }
  }
`;
const REVOKE_API_KEY = /* GraphQL */ `
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      id
      revokedAt
    }
  }
`;

function ApiKeys() {
  const t = useT();
  const keys = useQuery<ApiKeysQuery>(API_KEYS);
  const [name, setName] = useState('');
  const [role, setRole] = useState<ApiKeyRole>('MEMBER');
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const act = (p: Promise<unknown>) => p.then(keys.reload, (e: ApiError) => setError(e));
  const create = (e: Event) => {
    e.preventDefault();
    setError(null);
    act(
      request<CreateApiKeyMutation, CreateApiKeyMutationVariables>(CREATE_API_KEY, {
        input: { name, role },
      }).then((r) => setSecret(r.createApiKey.secret)),
    );
  };
  return (
    <section class="card">
      <h2>{t('apiKeys')}</h2>
      <ErrorText error={keys.error ?? error} />
      <table>
        <thead>
          <tr>
            <th>{t('name')}</th>
            <th>{t('role')}</th>
            <th>{t('keyPrefix')}</th>
            <th>{t('created')}</th>
            <th>{t('lastUsed')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.data?.apiKeys.map((k) => (
            <tr key={k.id} class={k.revokedAt ? 'muted' : ''}>
              <td>{k.name}</td>
              <td>{k.role}</td>
              <td>
                <code>{k.keyPrefix}…</code>
              </td>
              <td>{fmt.date(k.createdAt)}</td>
              <td>{fmt.date(k.lastUsedAt)}</td>
              <td>
                {k.revokedAt ? (
                  t('revoked')
                ) : (
                  <button
                    class="danger"
                    onClick={() =>
                      act(request<unknown, RevokeApiKeyMutationVariables>(REVOKE_API_KEY, { id: k.id }))
                    }
                  >
                    {t('revoke')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="row" onSubmit={create}>
        <input placeholder={t('name')} value={name} onInput={(e) => setName(valueOf(e))} />
        <select value={role} onChange={(e) => setRole(valueOf(e) as ApiKeyRole)}>
          <option value="MEMBER">MEMBER</option>
          <option value="ADMIN">ADMIN</option>
        </select>
        <button type="submit" disabled={!name}>
          {t('createKey')}
        </button>
      </form>
      {secret && (
        <p class="notice">
          {t('secretOnce')} <code data-testid="secret">{secret}</code>
        </p>
      )}
    </section>
  );
}

export function ProjectPage({ viewer }: { viewer: Viewer }) {
  const t = useT();
  return (
    <>
      <h1>{t('navProject')}</h1>
      <section class="card">
        <dl class="facts">
          <dt>{t('project')}</dt>
          <dd>{viewer.project.name}</dd>
          <dt>{t('created')}</dt>
          <dd>{fmt.date(viewer.project.createdAt)}</dd>
          <dt>{t('apiKey')}</dt>
          <dd>
            {viewer.apiKey.name} · {viewer.apiKey.role} · <code>{viewer.apiKey.keyPrefix}…</code>
          </dd>
        </dl>
      </section>
      {viewer.apiKey.role === 'ADMIN' ? <ApiKeys /> : <p class="muted">{t('keysAdminOnly')}</p>}
    </>
  );
}
