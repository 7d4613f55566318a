import request from 'supertest';
import { BOOTSTRAP_KEY, startTestApi } from '../support/api';
import { collect, wsClient } from '../support/client';

describe('graceful shutdown', () => {
  it('finishes the request in flight, closes WebSocket clients, then stops listening and closes connections', async () => {
    const api = await startTestApi();
    const server = api.app.httpServer;
    const client = wsClient(server, `Bearer ${BOOTSTRAP_KEY}`);
    const closed = new Promise<number>((resolve) =>
      client.on('closed', (e) => resolve((e as { code: number }).code)),
    );
    const sub = collect(client, `subscription { trainingJobStatusChanged { jobId } }`, {});
    const subEnded = sub.done.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));

    const inFlight = request(server)
      .post('/graphql')
      .set('authorization', `Bearer ${BOOTSTRAP_KEY}`)
      .send({ query: '{ viewer { project { name } } }' });
    const received = new Promise((r) => server.once('request', r));
    const answered = inFlight.then((res) => res.status);
    await received; // the request is at the server when shutdown begins
    const closing = api.app.close();
    expect(await answered).toBe(200);
    await closing;
    expect(await closed).toBe(1001); // "going away"
    await subEnded;
    expect(server.listening).toBe(false);
    expect(api.app.db.isInitialized).toBe(false);
    await client.dispose();
    await api.env.dispose();
  });
});
