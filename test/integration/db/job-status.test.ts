import type { DataSource } from 'typeorm';
import { createDataSource } from '../../../src/db/data-source';
import { JobStatus as S } from '../../../src/db/entities';
import { canTransition } from '../../../src/db/job-status';
import { transitionJob } from '../../../src/db/store/jobs';
import { createTestEnv, TestEnv } from '../support/env';
import { insertJob } from '../support/rows';

describe('training job state machine', () => {
  let env: TestEnv;
  let db: DataSource;
  beforeAll(async () => {
    env = await createTestEnv();
    db = await createDataSource(env.config, 4).initialize();
  });
  afterAll(async () => {
    await db.destroy();
    await env.dispose();
  });

  it('allows exactly the documented transitions', () => {
    const allowed = Object.values(S).flatMap((from) =>
      Object.values(S)
        .filter((to) => canTransition(from, to))
        .map((to) => `${from}->${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        'QUEUED->RUNNING',
        'QUEUED->CANCELLED',
        'RUNNING->RUNNING',
        'RUNNING->QUEUED',
        'RUNNING->SUCCEEDED',
        'RUNNING->FAILED',
        'RUNNING->CANCELLED',
        'FAILED->QUEUED',
        'CANCELLED->QUEUED',
      ].sort(),
    );
  });

  it('refuses a transition the machine does not have, and one from a status the job is not in', async () => {
    const id = await insertJob(db);
    await expect(transitionJob(db.manager, id, [S.SUCCEEDED], S.QUEUED)).rejects.toThrow(/cannot move/);
    expect(await transitionJob(db.manager, id, [S.RUNNING], S.SUCCEEDED)).toBeNull();
    const t = await transitionJob(db.manager, id, [S.QUEUED], S.RUNNING, {
      worker_id: 'w1',
      started_at: 'first',
    });
    expect(t?.previousStatus).toBe(S.QUEUED);
    expect(t?.job).toMatchObject({ status: S.RUNNING, workerId: 'w1' });
    expect(t?.job.startedAt).toBeInstanceOf(Date);
  });

  it('lets one of two racing claims win, and only the holder settle the job', async () => {
    const id = await insertJob(db);
    const claims = await Promise.all(
      ['a', 'b'].map((w) =>
        transitionJob(db.manager, id, [S.QUEUED], S.RUNNING, { worker_id: w, attempts: 'increment' }),
      ),
    );
    const winners = claims.filter((c) => c !== null);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!.job.workerId as string;
    const loser = winner === 'a' ? 'b' : 'a';
    expect(await transitionJob(db.manager, id, [S.RUNNING], S.SUCCEEDED, {}, loser)).toBeNull();
    const done = await transitionJob(
      db.manager,
      id,
      [S.RUNNING],
      S.SUCCEEDED,
      { finished_at: 'now' },
      winner,
    );
    expect(done?.job).toMatchObject({ status: S.SUCCEEDED, attempts: 1 });
  });
});
