/**
 * The analysts' queries over stored evaluations (rows as workers leave them): history filters, ordering by any
 * metric with cursor pages, the best result per evaluated model, the samples of one evaluation worst first,
 * comparison side by side, and project scoping.
 */
import {
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { errorCode, Gql, GqlResult } from '../support/client';
import { EVALUATION, insertEvaluation, insertSamples, insertTrainingJob } from './support';

const RESULTS = `query($filter: EvaluationResultFilter, $orderBy: EvaluationResultOrder, $first: Int!, $after: String) {
  evaluationResults(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    edges { cursor node { id } } pageInfo { endCursor hasNextPage }
  }
}`;
const JOBS = `query($filter: EvaluationJobFilter, $first: Int!, $after: String) {
  evaluationJobs(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id } } pageInfo { endCursor hasNextPage }
  }
}`;
const BEST = `query($datasetId: ID!, $metric: EvaluationMetric!, $first: Int!, $after: String) {
  bestEvaluations(datasetId: $datasetId, metric: $metric, first: $first, after: $after) {
    edges { node { id } } pageInfo { endCursor hasNextPage }
  }
}`;
const SAMPLES = `query($id: ID!, $orderBy: EvaluationSampleOrder, $first: Int!, $after: String) {
  evaluationJob(id: $id) {
    samples(orderBy: $orderBy, first: $first, after: $after) {
      edges { node { index prediction scores { rougeL { recall } bleu4 } } } pageInfo { endCursor hasNextPage }
    }
  }
}`;
const COMPARE = `query($ids: [ID!]!, $metric: EvaluationMetric!, $first: Int!, $after: String) {
  compareEvaluations(ids: $ids) {
    evaluations { id }
    metrics { metric values differences bestEvaluationId }
    sameRows
    samples(metric: $metric, first: $first, after: $after) {
      edges { node { index prompt reference predictions values difference } } pageInfo { endCursor hasNextPage }
    }
  }
}`;

const day = (n: number) => new Date(Date.UTC(2026, 0, n));

interface Connection<N> {
  edges: { node: N }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

describe('evaluation queries', () => {
  let api: TestApi;
  let teamB: Gql;
  let e: Record<string, string>;
  let d1: string;
  let d2: string;
  let m2: string;
  let t1: string;
  let foreignDataset: string;

  beforeAll(async () => {
    api = await startTestApi();
    const dir = demoModelDir();
    const model = async (name: string, as = api.admin) =>
      (await as(REGISTER_MODEL, { input: { name, path: dir } })).data?.registerModel.id as string;
    const dataset = async (name: string, as = api.admin) =>
      (await as(CREATE_DATASET, { input: { name, kind: 'SFT', jsonl: sftJsonl(4) } })).data?.createDataset
        .id as string;
    const projectId = (await api.admin(`{ viewer { project { id } } }`)).data?.viewer.project.id;
    const m1 = await model('m1');
    m2 = await model('m2');
    d1 = await dataset('d1');
    d2 = await dataset('d2');
    const made = await api.admin(
      `mutation { createProject(input: { name: "team-b" }) { adminKey { secret } } }`,
    );
    teamB = api.as(made.data?.createProject.adminKey.secret);
    foreignDataset = await dataset('theirs', teamB);
    const t = await insertTrainingJob(api.app.db, {
      projectId,
      baseModelId: m1,
      datasetId: d1,
      checkpoints: [
        { step: 4, path: '/c4' },
        { step: 8, path: '/c8' },
      ],
    });
    t1 = t.id;
    const [c1, c2] = t.checkpoints;
    const add = (v: number | null, n: number, over: Record<string, string> = {}) =>
      insertEvaluation(api.app.db, {
        projectId,
        baseModelId: m1,
        datasetId: d1,
        v,
        createdAt: day(n),
        ...over,
      });
    e = {
      e1: await add(0.2, 1),
      e2: await add(0.5, 2, { trainingJobId: t1, checkpointId: c1 }),
      e3: await add(0.7, 3, { trainingJobId: t1, checkpointId: c2 }),
      e4: await add(0.6, 4, { trainingJobId: t1, checkpointId: c2 }),
      e5: await add(0.4, 5, { baseModelId: m2 }),
      e6: await add(0.9, 6, { datasetId: d2 }),
      e7: await add(null, 7),
      e8: await add(0.3, 8),
    };
    await insertSamples(api.app.db, e.e3, [0.5, 0.1, 0.9, 0.1, 0.0, 1.0]);
    await insertSamples(api.app.db, e.e2, [0.5, 0.3, 0.2, 0.6, 0.0, 0.4]);
  });
  afterAll(() => api.close());

  const name = (id: string) => Object.keys(e).find((k) => e[k] === id);
  /** Every page of a connection query, as evaluation names per page. */
  const pages = async (query: string, vars: Record<string, unknown>, field: string, as: Gql = api.admin) => {
    const out: string[][] = [];
    let after: string | null = null;
    for (;;) {
      const r: GqlResult<Record<string, Connection<{ id: string }>>> = await as(query, { ...vars, after });
      expect(r.errors).toBeUndefined();
      const conn = r.data![field];
      out.push(conn.edges.map((x) => name(x.node.id) as string));
      if (!conn.pageInfo.hasNextPage) return out;
      after = conn.pageInfo.endCursor;
    }
  };
  const results = (vars: Record<string, unknown>, as?: Gql) => pages(RESULTS, vars, 'evaluationResults', as);

  it('lists finished evaluations newest first, a page at a time', async () => {
    expect(await results({ first: 3 })).toEqual([['e8', 'e6', 'e5'], ['e4', 'e3', 'e2'], ['e1']]);
  });

  it('lists evaluations of every status, or of the given statuses, newest first', async () => {
    const jobs = (vars: Record<string, unknown>, as?: Gql) => pages(JOBS, vars, 'evaluationJobs', as);
    expect(await jobs({ first: 3 })).toEqual([
      ['e8', 'e7', 'e6'],
      ['e5', 'e4', 'e3'],
      ['e2', 'e1'],
    ]);
    expect((await jobs({ filter: { status: ['RUNNING'] }, first: 10 })).flat()).toEqual(['e7']);
    expect(
      (await jobs({ filter: { status: ['RUNNING', 'SUCCEEDED'], baseModelId: m2 }, first: 10 })).flat(),
    ).toEqual(['e5']);
    expect((await jobs({ filter: { status: ['QUEUED'] }, first: 10 })).flat()).toEqual([]);
    expect((await jobs({ first: 10 }, teamB)).flat()).toEqual([]);
  });

  it('filters by base model, training job, dataset and creation time', async () => {
    const one = async (filter: Record<string, unknown>) => (await results({ filter, first: 100 })).flat();
    expect(await one({ datasetId: d1 })).toEqual(['e8', 'e5', 'e4', 'e3', 'e2', 'e1']);
    expect(await one({ baseModelId: m2 })).toEqual(['e5']);
    expect(await one({ trainingJobId: t1 })).toEqual(['e4', 'e3', 'e2']);
    expect(await one({ from: day(3).toISOString(), to: day(6).toISOString() })).toEqual(['e5', 'e4', 'e3']);
    expect(await one({ datasetId: d2, baseModelId: m2 })).toEqual([]);
    expect(await one({ trainingJobId: 'not-an-id' })).toEqual([]);
  });

  it('orders by any metric in either direction across pages', async () => {
    const filter = { datasetId: d1 };
    expect(await results({ filter, orderBy: { metric: 'ROUGE_L_RECALL' }, first: 2 })).toEqual([
      ['e3', 'e4'],
      ['e2', 'e5'],
      ['e8', 'e1'],
    ]);
    expect((await results({ filter, orderBy: { metric: 'BLEU4' }, first: 4 })).flat()).toEqual([
      'e1',
      'e8',
      'e5',
      'e2',
      'e4',
      'e3',
    ]);
    expect((await results({ filter, orderBy: { metric: 'F1', direction: 'ASC' }, first: 5 })).flat()).toEqual(
      ['e1', 'e8', 'e5', 'e2', 'e4', 'e3'],
    );
  });

  it('rejects a cursor of another ordering', async () => {
    const first = await api.admin(RESULTS, { orderBy: { metric: 'F1' }, first: 1 });
    const wrong = await api.admin(RESULTS, {
      orderBy: { metric: 'BLEU4' },
      first: 1,
      after: first.data?.evaluationResults.pageInfo.endCursor,
    });
    expect(wrong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', path: ['after'] });
    expect(errorCode(await api.admin(RESULTS, { first: 1, after: 'garbage' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await api.admin(RESULTS, { first: 0 }))).toBe('BAD_USER_INPUT');
  });

  it('finds the best evaluation of every evaluated model on a dataset, best first', async () => {
    const best = (metric: string, first = 10) =>
      pages(BEST, { datasetId: d1, metric, first }, 'bestEvaluations');
    // The base model m1 twice (e1, e8), checkpoint c1 once, checkpoint c2 twice (e3, e4), m2 once.
    expect((await best('ROUGE_L_RECALL')).flat()).toEqual(['e3', 'e2', 'e5', 'e8']);
    expect(await best('BLEU4', 3)).toEqual([['e1', 'e5', 'e2'], ['e4']]);
    expect(errorCode(await api.admin(BEST, { datasetId: foreignDataset, metric: 'F1', first: 5 }))).toBe(
      'NOT_FOUND',
    );
  });

  it('pages the samples of one evaluation: row order, worst first, best first', async () => {
    const samples = async (orderBy: unknown, first: number) => {
      const out: number[][] = [];
      let after: string | null = null;
      for (;;) {
        type Samples = { evaluationJob: { samples: Connection<{ index: number }> } };
        const r: GqlResult<Samples> = await api.admin(SAMPLES, { id: e.e3, orderBy, first, after });
        expect(r.errors).toBeUndefined();
        const conn = r.data!.evaluationJob.samples;
        out.push(conn.edges.map((x) => x.node.index));
        if (!conn.pageInfo.hasNextPage) return out;
        after = conn.pageInfo.endCursor;
      }
    };
    expect((await samples(null, 4)).flat()).toEqual([0, 1, 2, 3, 4, 5]);
    // rougeL recall per row: [0.5, 0.1, 0.9, 0.1, 0.0, 1.0]; ties by row index.
    expect(await samples({ metric: 'ROUGE_L_RECALL' }, 2)).toEqual([
      [4, 1],
      [3, 0],
      [2, 5],
    ]);
    expect((await samples({ metric: 'ROUGE_L_RECALL', direction: 'DESC' }, 4)).flat()).toEqual([
      5, 2, 0, 3, 1, 4,
    ]);
    // BLEU-4 per row is 1 - that: [0.5, 0.9, 0.1, 0.9, 1.0, 0.0].
    expect((await samples({ metric: 'BLEU4' }, 6)).flat()).toEqual([5, 2, 0, 1, 3, 4]);
    const page = await api.admin(SAMPLES, { id: e.e3, orderBy: { metric: 'ROUGE_L_RECALL' }, first: 1 });
    expect(page.data?.evaluationJob.samples.edges[0].node).toEqual({
      index: 4,
      prediction: `${e.e3}:4`,
      scores: { rougeL: { recall: 0 }, bleu4: 1 },
    });
  });

  it('compares evaluations metric by metric and pairs their samples, largest regressions first', async () => {
    const r = await api.admin(COMPARE, { ids: [e.e2, e.e3], metric: 'ROUGE_L_RECALL', first: 4 });
    expect(r.errors).toBeUndefined();
    const c = r.data?.compareEvaluations;
    expect(c.evaluations.map((x: { id: string }) => name(x.id))).toEqual(['e2', 'e3']);
    expect(c.sameRows).toBe(true);
    const metric = (m: string) => c.metrics.find((x: { metric: string }) => x.metric === m);
    expect(c.metrics).toHaveLength(12);
    expect(metric('ROUGE_L_RECALL').values).toEqual([0.5, 0.7]);
    expect(metric('ROUGE_L_RECALL').differences[0]).toBe(0);
    expect(metric('ROUGE_L_RECALL').differences[1]).toBeCloseTo(0.2, 12);
    expect(name(metric('ROUGE_L_RECALL').bestEvaluationId)).toBe('e3');
    expect(name(metric('BLEU4').bestEvaluationId)).toBe('e2');

    // e3 - e2 per row: [0, -0.2, 0.7, -0.5, 0, 0.6].
    const rows = c.samples.edges.map((x: { node: Record<string, unknown> }) => x.node);
    expect(rows.map((x: { index: number }) => x.index)).toEqual([3, 1, 0, 4]);
    expect(rows[0]).toMatchObject({
      index: 3,
      prompt: 'prompt 3',
      reference: 'reference 3',
      predictions: [`${e.e2}:3`, `${e.e3}:3`],
      values: [0.6, 0.1],
    });
    expect(rows[0].difference).toBeCloseTo(-0.5, 12);
    const next = await api.admin(COMPARE, {
      ids: [e.e2, e.e3],
      metric: 'ROUGE_L_RECALL',
      first: 4,
      after: c.samples.pageInfo.endCursor,
    });
    expect(
      next.data?.compareEvaluations.samples.edges.map((x: { node: { index: number } }) => x.node.index),
    ).toEqual([5, 2]);
    expect(next.data?.compareEvaluations.samples.pageInfo.hasNextPage).toBe(false);

    const unpaired = await api.admin(COMPARE, { ids: [e.e2, e.e5], metric: 'F1', first: 5 });
    expect(unpaired.data?.compareEvaluations.sameRows).toBe(false);
    expect(unpaired.data?.compareEvaluations.samples.edges).toEqual([]);
  });

  it('refuses comparisons that cannot be made', async () => {
    const compare = (ids: string[]) => api.admin(COMPARE, { ids, metric: 'F1', first: 1 });
    expect((await compare([e.e2])).errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['ids'],
    });
    expect((await compare([e.e2, e.e2])).errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['ids', '1'],
    });
    expect((await compare([e.e2, e.e7])).errors?.[0]).toMatchObject({
      message: expect.stringMatching(/no results \(it is RUNNING\)/),
      extensions: { code: 'BAD_USER_INPUT', path: ['ids', '1'] },
    });
    expect(errorCode(await compare([e.e2, '00000000-0000-0000-0000-000000000000']))).toBe('NOT_FOUND');
    expect(errorCode(await compare(['not-an-id', 'nor-this']))).toBe('NOT_FOUND');
  });

  it('keeps every query inside the caller’s project', async () => {
    expect(errorCode(await teamB(EVALUATION, { id: e.e3 }))).toBe('NOT_FOUND');
    expect(errorCode(await teamB(COMPARE, { ids: [e.e2, e.e3], metric: 'F1', first: 1 }))).toBe('NOT_FOUND');
    expect(errorCode(await teamB(BEST, { datasetId: d1, metric: 'F1', first: 1 }))).toBe('NOT_FOUND');
    expect((await results({ first: 100 }, teamB)).flat()).toEqual([]);
    expect((await results({ filter: { datasetId: d1 }, first: 100 }, teamB)).flat()).toEqual([]);
  });

  it('lists every metric of a set of scores under its EvaluationMetric name, as the fields hold it', async () => {
    const r = await api.admin(
      `query($id: ID!) {
        evaluationJob(id: $id) {
          results { metrics { metric value } accuracy rougeL { recall } bleu4 }
          samples(first: 6) { edges { node { scores { metrics { metric value } rougeL { recall } bleu4 } } } }
        }
        __type(name: "EvaluationMetric") { enumValues { name } }
      }`,
      { id: e.e3 },
    );
    expect(r.errors).toBeUndefined();
    type Scores = { metrics: { metric: string; value: number }[]; rougeL: { recall: number }; bleu4: number };
    const job = r.data!.evaluationJob as { results: Scores; samples: Connection<{ scores: Scores }> };
    const names = (r.data!.__type.enumValues as { name: string }[]).map((v) => v.name);
    for (const scores of [job.results, ...job.samples.edges.map((x) => x.node.scores)]) {
      expect(scores.metrics.map((m) => m.metric)).toEqual(names);
      const value = new Map(scores.metrics.map((m) => [m.metric, m.value]));
      expect(value.get('ROUGE_L_RECALL')).toBe(scores.rougeL.recall);
      expect(value.get('BLEU4')).toBe(scores.bleu4);
    }
    expect(new Map(job.results.metrics.map((m) => [m.metric, m.value])).get('ACCURACY')).toBe(0.7);
  });

  it('describes every metric (evaluationMetrics): the summary ones and the one headline metric', async () => {
    const r = await api.admin(`{
      evaluationMetrics { metric label summary headline }
      __type(name: "EvaluationMetric") { enumValues { name } }
    }`);
    expect(r.errors).toBeUndefined();
    const infos = r.data!.evaluationMetrics as {
      metric: string;
      label: string;
      summary: boolean;
      headline: boolean;
    }[];
    expect(infos.map((m) => m.metric)).toEqual(
      (r.data!.__type.enumValues as { name: string }[]).map((v) => v.name),
    );
    expect(infos.filter((m) => m.summary).map((m) => m.metric)).toEqual(['F1', 'ROUGE_L_RECALL', 'BLEU4']);
    expect(infos.filter((m) => m.headline)).toEqual([
      { metric: 'ROUGE_L_RECALL', label: 'ROUGE-L recall', summary: true, headline: true },
    ]);
  });

  it('shows an evaluation’s results, training job and checkpoint', async () => {
    const job = (await api.admin(EVALUATION, { id: e.e3 })).data?.evaluationJob;
    expect(job).toMatchObject({
      status: 'SUCCEEDED',
      modelKind: 'LORA',
      trainingJob: { id: t1 },
      checkpoint: { step: 8 },
      results: {
        accuracy: 0.7,
        rougeL: { precision: 0.7, recall: 0.7, f: 0.7 },
        bleu4: expect.closeTo(0.3, 12),
      },
    });
    expect((await api.admin(EVALUATION, { id: e.e7 })).data?.evaluationJob.results).toBeNull();
  });
});
