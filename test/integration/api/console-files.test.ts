import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { startTestApi, type TestApi } from '../support/api';

describe('the web console served at /', () => {
  let api: TestApi;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'whetstone-console-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  writeFileSync(path.join(os.tmpdir(), 'whetstone-console-secret.txt'), 'secret');

  beforeAll(async () => {
    api = await startTestApi({ WHETSTONE_CONSOLE_DIR: dir });
  });
  afterAll(() => api.close());

  it('serves index.html at / and for any page path (the console routes itself)', async () => {
    for (const url of ['/', '/jobs/123', '/evaluations/compare?ids=a,b']) {
      const res = await request(api.app.httpServer).get(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.text).toContain('<title>console</title>');
    }
  });

  it('serves hashed assets with their type, cached for good', async () => {
    const res = await request(api.app.httpServer).get('/assets/index-abc.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/javascript');
    expect(res.headers['cache-control']).toContain('immutable');
    expect(res.text).toBe('console.log(1)');
  });

  it('never serves a file outside its folder', async () => {
    for (const url of [
      '/../whetstone-console-secret.txt',
      '/%2e%2e/whetstone-console-secret.txt',
      '/assets/..%2f..%2fwhetstone-console-secret.txt',
    ]) {
      const res = await request(api.app.httpServer).get(url);
      expect(res.text).not.toContain('secret');
    }
  });

  it('keeps /graphql and /healthz, and refuses other methods on console paths', async () => {
    expect((await request(api.app.httpServer).get('/healthz')).status).toBe(200);
    expect((await api.admin('{ viewer { project { name } } }')).data?.viewer.project.name).toBe('default');
    expect((await request(api.app.httpServer).post('/jobs')).status).toBe(404);
  });

  it('answers 404 naming the build step when the console was not built', async () => {
    const bare = await startTestApi({ WHETSTONE_CONSOLE_DIR: path.join(dir, 'missing') });
    try {
      const res = await request(bare.app.httpServer).get('/');
      expect(res.status).toBe(404);
      expect(res.body.error).toContain('npm run build');
    } finally {
      await bare.close();
    }
  });
});
