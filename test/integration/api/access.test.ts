import request from 'supertest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { BOOTSTRAP_KEY, startTestApi, TestApi } from '../support/api';
import { createApiApp } from '../../../src/api/app';
import { errorCode, httpClient, wsUrl } from '../support/client';

const VIEWER = `{ viewer { project { name isDefault } apiKey { role name } } }`;

describe('access: API keys and projects', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('reports PostgreSQL and Redis reachability on GET /healthz without a key', async () => {
    const res = await request(api.app.httpServer).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', postgres: 'ok', redis: 'ok' });
  });

  it('refuses requests without a key or with an unknown one: 401 UNAUTHENTICATED', async () => {
    for (const key of [null, 'wst_not-a-real-key']) {
      const result = await api.as(key)(VIEWER);
      expect(result.status).toBe(401);
      expect(errorCode(result)).toBe('UNAUTHENTICATED');
      expect(result.data).toBeNull();
    }
    const raw = await request(api.app.httpServer)
      .post('/graphql')
      .set('authorization', BOOTSTRAP_KEY) // no Bearer scheme
      .send({ query: VIEWER });
    expect(raw.status).toBe(401);
  });

  it('makes the bootstrap key an admin of the default project', async () => {
    const result = await api.admin(VIEWER);
    expect(result.data?.viewer).toEqual({
      project: { name: 'default', isDefault: true },
      apiKey: { role: 'ADMIN', name: 'bootstrap' },
    });
  });

  it('creates keys (secret shown once, stored hashed), restricts key management to admins, revokes at once', async () => {
    const created = await api.admin(
      `mutation { createApiKey(input: { name: "ci" }) { secret apiKey { id role keyPrefix revokedAt } } }`,
    );
    const { secret, apiKey } = created.data!.createApiKey;
    expect(apiKey.role).toBe('MEMBER');
    expect(secret.startsWith(apiKey.keyPrefix)).toBe(true);
    const stored = await api.app.db.query(`SELECT key_hash FROM api_keys WHERE id = $1`, [apiKey.id]);
    expect(stored[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored[0].key_hash).not.toContain(secret);

    const member = api.as(secret);
    expect((await member(VIEWER)).data?.viewer.apiKey.role).toBe('MEMBER');
    expect(errorCode(await member(`mutation { createApiKey(input: { name: "x" }) { secret } }`))).toBe(
      'FORBIDDEN',
    );
    expect(errorCode(await member(`{ apiKeys { id } }`))).toBe('FORBIDDEN');

    const revoke = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;
    const revoked = await api.admin(revoke, { id: apiKey.id });
    expect(revoked.data?.revokeApiKey.revokedAt).not.toBeNull();
    expect(errorCode(await member(VIEWER))).toBe('UNAUTHENTICATED');
    expect(errorCode(await api.admin(revoke, { id: apiKey.id }))).toBe('CONFLICT');
    expect(errorCode(await api.admin(revoke, { id: 'not-an-id' }))).toBe('NOT_FOUND');
    expect(errorCode(await api.admin(`mutation { createApiKey(input: { name: "  " }) { secret } }`))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('lets only admins of the default project create projects; keys of other projects are NOT_FOUND', async () => {
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { project { id name } adminKey { secret apiKey { id } } } }`,
    );
    const teamB = api.as(made.data?.createProject.adminKey.secret);
    expect((await teamB(VIEWER)).data?.viewer.project.name).toBe('team-b');
    expect(
      errorCode(await teamB(`mutation { createProject(input: { name: "c" }) { project { id } } }`)),
    ).toBe('FORBIDDEN');
    const again = await api.admin(`mutation { createProject(input: { name: "team-b" }) { project { id } } }`);
    expect(again.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', path: ['input', 'name'] });

    const defaultKeys = await api.admin(`{ apiKeys { id } }`);
    const bootstrapKeyId = defaultKeys.data?.apiKeys[defaultKeys.data.apiKeys.length - 1].id;
    expect(
      errorCode(await teamB(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: bootstrapKeyId })),
    ).toBe('NOT_FOUND');
    const bKeys = await teamB(`{ apiKeys { id } }`);
    expect(bKeys.data?.apiKeys).toEqual([{ id: made.data?.createProject.adminKey.apiKey.id }]);
  });

  it('revokes a key in every API process at once (replicas cache authenticated keys)', async () => {
    const replica = await createApiApp(api.env.config);
    try {
      const created = await api.admin(
        `mutation { createApiKey(input: { name: "replicated" }) { secret apiKey { id } } }`,
      );
      const { secret, apiKey } = created.data!.createApiKey;
      const onReplica = httpClient(replica.httpServer, secret);
      expect((await onReplica(VIEWER)).status).toBe(200); // now cached by the replica
      await api.admin(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: apiKey.id });
      await new Promise((r) => setTimeout(r, 100)); // the announcement travels through Redis
      expect(errorCode(await onReplica(VIEWER))).toBe('UNAUTHENTICATED');
    } finally {
      await replica.close();
    }
  });

  it('closes WebSocket connections without a valid key (4401) and accepts the key in connectionParams', async () => {
    const closeCode = (authorization?: string) =>
      new Promise<number>((resolve) => {
        const client = createClient({
          url: wsUrl(api.app.httpServer),
          webSocketImpl: WebSocket,
          connectionParams: authorization ? { authorization } : {},
          retryAttempts: 0,
          lazy: false,
          onNonLazyError: () => undefined,
          on: {
            closed: (e) => resolve((e as { code: number }).code),
            connected: () => {
              resolve(0);
              void client.dispose();
            },
          },
        });
      });
    expect(await closeCode()).toBe(4401);
    expect(await closeCode('Bearer wst_wrong')).toBe(4401);
    expect(await closeCode(`Bearer ${BOOTSTRAP_KEY}`)).toBe(0);
  });
});
