/**
 * `canCancel` / `canResume` through the API (no worker): for every kind of job and every status, what the fields
 * say agrees with what cancelling and resuming a job in that status then do.
 */
import { jobTable, type JobKind } from '../../../src/db/job-status';
import { JOB_STATUSES } from '../../../src/vocabulary';
import {
  CREATE_DATASET,
  CREATE_JOB,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { errorCode, type GqlResult } from '../support/client';

type Status = (typeof JOB_STATUSES)[number];

/** How each kind is created, read and moved through the API (generations cannot be resumed). */
const KINDS: Record<
  JobKind,
  { create: string; read: string; fields: string; cancel: string; resume: string | null }
> = {
  training: {
    create: CREATE_JOB,
    read: 'trainingJob',
    fields: 'canCancel canResume',
    cancel: 'cancelTrainingJob',
    resume: 'resumeTrainingJob',
  },
  evaluation: {
    create: `mutation($input: CreateEvaluationJobInput!) { createEvaluationJob(input: $input) { id } }`,
    read: 'evaluationJob',
    fields: 'canCancel canResume',
    cancel: 'cancelEvaluationJob',
    resume: 'resumeEvaluationJob',
  },
  generation: {
    create: `mutation($input: CreateGenerationInput!) { createGeneration(input: $input) { id } }`,
    read: 'generation',
    fields: 'canCancel',
    cancel: 'cancelGeneration',
    resume: null,
  },
};

describe('what a job allows, as the API says it and as its mutations do it', () => {
  let api: TestApi;
  let inputs: Record<JobKind, Record<string, unknown>>;

  beforeAll(async () => {
    api = await startTestApi();
    const baseModelId = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: demoModelDir() } }))
      .data?.registerModel.id;
    const datasetId = (
      await api.admin(CREATE_DATASET, { input: { name: 'sft', kind: 'SFT', jsonl: sftJsonl(8) } })
    ).data?.createDataset.id;
    inputs = {
      training: { name: 'job', baseModelId, datasetId, method: 'SFT', parameterScale: 'LORA' },
      evaluation: { name: 'eval', baseModelId, datasetId },
      generation: { baseModelId, prompt: 'Hello', maxNewTokens: 4 },
    };
  });
  afterAll(() => api.close());

  /** A new job of `kind`, put in `status` as a worker would leave it. */
  const jobIn = async (kind: JobKind, status: Status): Promise<string> => {
    const created = await api.admin(KINDS[kind].create, { input: inputs[kind] });
    expect(created.errors).toBeUndefined();
    const id = Object.values(created.data ?? {})[0].id as string;
    await api.app.db.query(`UPDATE ${jobTable(kind)} SET status = $2 WHERE id = $1`, [id, status]);
    return id;
  };
  const allowed = async (kind: JobKind, id: string) => {
    const { read, fields } = KINDS[kind];
    const r = await api.admin(`query($id: ID!) { ${read}(id: $id) { status ${fields} } }`, { id });
    expect(r.errors).toBeUndefined();
    return r.data?.[read] as { status: Status; canCancel: boolean; canResume?: boolean };
  };
  const row = async (kind: JobKind, id: string) =>
    (
      await api.app.db.query(`SELECT status, cancel_requested_at FROM ${jobTable(kind)} WHERE id = $1`, [id])
    )[0] as { status: Status; cancel_requested_at: Date | null };
  const mutate = (mutation: string, id: string): Promise<GqlResult> =>
    api.admin(`mutation($id: ID!) { ${mutation}(id: $id) { id status } }`, { id });

  describe.each(Object.keys(KINDS) as JobKind[])('%s', (kind) => {
    it('canCancel is true exactly where cancelling stops the job', async () => {
      const cancellable: Status[] = [];
      for (const status of JOB_STATUSES) {
        const id = await jobIn(kind, status);
        const { canCancel } = await allowed(kind, id);
        const answer = await mutate(KINDS[kind].cancel, id);
        const after = await row(kind, id);
        // Stopped: cancelled at once, or asked to stop (the worker then cancels it).
        const stopped =
          !answer.errors &&
          ((status !== 'CANCELLED' && after.status === 'CANCELLED') || after.cancel_requested_at !== null);
        expect({ status, canCancel }).toEqual({ status, canCancel: stopped });
        if (!stopped) {
          // Refused, or (a CANCELLED job) answered as it is; either way unchanged.
          if (status !== 'CANCELLED') expect(errorCode(answer)).toBe('CONFLICT');
          expect(after.status).toBe(status);
        }
        if (canCancel) cancellable.push(status);
      }
      expect(cancellable).toEqual(['QUEUED', 'RUNNING']);
    });

    const resume = KINDS[kind].resume;
    if (!resume) return;
    it('canResume is true exactly where resuming queues the job again', async () => {
      const resumable: Status[] = [];
      for (const status of JOB_STATUSES) {
        const id = await jobIn(kind, status);
        const { canResume } = await allowed(kind, id);
        const answer = await mutate(resume, id);
        const after = await row(kind, id);
        const queued = !answer.errors && after.status === 'QUEUED';
        expect({ status, canResume }).toEqual({ status, canResume: queued });
        if (!queued) {
          expect(errorCode(answer)).toBe('CONFLICT');
          expect(after.status).toBe(status);
        }
        if (canResume) resumable.push(status);
      }
      expect(resumable).toEqual(['FAILED', 'CANCELLED']);
    });
  });
});
