/**
 * GET /checkpoints/:id/archive: the checkpoint folder's files as a tar stream, for the caller's project only
 * (another project's checkpoint answers like an unknown id), and `downloadUrl` pointing at it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { extract } from 'tar-stream';
import {
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { Gql } from '../support/client';
import { insertTrainingJob } from '../evaluations/support';

/** The entries of a tar archive: name -> content. */
async function untar(buffer: Buffer): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const x = extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        files[header.name] = Buffer.concat(chunks).toString('utf8');
        next();
      });
    });
    x.on('finish', resolve);
    x.on('error', reject);
  });
  x.end(buffer);
  await done;
  return files;
}

describe('checkpoint archives', () => {
  let api: TestApi;
  let teamBKey: string;
  let checkpointId: string;
  let goneId: string;

  beforeAll(async () => {
    api = await startTestApi();
    const projectId = (await api.admin(`{ viewer { project { id } } }`)).data?.viewer.project.id;
    const dir = demoModelDir();
    const model = (await api.admin(REGISTER_MODEL, { input: { name: 'm', path: dir } })).data?.registerModel
      .id;
    const dataset = (
      await api.admin(CREATE_DATASET, { input: { name: 'd', kind: 'SFT', jsonl: sftJsonl(4) } })
    ).data?.createDataset.id;
    const folder = mkdtempSync(path.join(os.tmpdir(), 'whetstone-checkpoint-'));
    writeFileSync(path.join(folder, 'adapter_config.json'), '{"r": 8}');
    writeFileSync(path.join(folder, 'adapter_model.safetensors'), 'weights');
    writeFileSync(path.join(folder, 'empty'), '');
    mkdirSync(path.join(folder, 'checkpoint-2'));
    writeFileSync(path.join(folder, 'checkpoint-2', 'adapter_model.safetensors'), 'older weights');
    const job = await insertTrainingJob(api.app.db, {
      projectId,
      baseModelId: model,
      datasetId: dataset,
      checkpoints: [
        { step: 4, path: folder },
        { step: 8, path: path.join(folder, 'deleted') },
      ],
    });
    [checkpointId, goneId] = job.checkpoints;
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { adminKey { secret } } }`,
    );
    teamBKey = made.data?.createProject.adminKey.secret;
  });
  afterAll(() => api.close());

  const get = (url: string, key: string | null) => {
    const req = request(api.app.httpServer)
      .get(url)
      .buffer(true)
      .parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    return key ? req.set('authorization', `Bearer ${key}`) : req;
  };
  const as = (gql: Gql) =>
    gql(`{ trainingJobs { edges { node { name checkpoints { id step downloadUrl } } } } }`);

  it('streams the folder’s top-level files as a tar archive from downloadUrl', async () => {
    const jobs = (await as(api.admin)).data?.trainingJobs.edges;
    const checkpoint = jobs[0].node.checkpoints.find((c: { id: string }) => c.id === checkpointId);
    expect(checkpoint.downloadUrl).toBe(`/checkpoints/${checkpointId}/archive`);
    const res = await get(checkpoint.downloadUrl, api.env.config.bootstrapKey!);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-tar');
    expect(res.headers['content-disposition']).toBe('attachment; filename="trained-checkpoint-4.tar"');
    expect(await untar(res.body as Buffer)).toEqual({
      'trained-checkpoint-4/adapter_config.json': '{"r": 8}',
      'trained-checkpoint-4/adapter_model.safetensors': 'weights',
      'trained-checkpoint-4/empty': '',
    });
  });

  it('answers 401 without a valid key and 404 for unknown, foreign or vanished checkpoints', async () => {
    const url = `/checkpoints/${checkpointId}/archive`;
    expect((await get(url, null)).status).toBe(401);
    expect((await get(url, 'not-a-key-of-anyone-at-all')).status).toBe(401);
    const foreign = await get(url, teamBKey);
    const unknown = await get('/checkpoints/00000000-0000-0000-0000-000000000000/archive', teamBKey);
    expect(foreign.status).toBe(404);
    expect(JSON.parse(foreign.body.toString()).errors[0].extensions.code).toBe('NOT_FOUND');
    expect(foreign.body.toString()).toBe(
      unknown.body.toString().replace(/0{8}-(0{4}-){3}0{12}/, checkpointId),
    );
    expect((await get('/checkpoints/garbage/archive', teamBKey)).status).toBe(404);
    expect((await get(`/checkpoints/${goneId}/archive`, api.env.config.bootstrapKey!)).status).toBe(404);
  });
});
