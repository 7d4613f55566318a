/**
 * The malformed-input sweep: every mutation, every query with arguments and every field with arguments of the
 * objects those queries return is sent, through the real API, a set of bad values at every place of its input
 * (derived from the schema, so new operations and fields are covered without editing this file): missing and null
 * values, wrong types, out-of-range numbers, unknown enum values, foreign, wrong-kind and non-UUID ids, huge
 * strings and lists, NUL bytes, lone surrogates, broken JSONL and crafted cursors, plus an alias flood of each.
 * It asserts no HTTP 500, no error without a stable code (INTERNAL_SERVER_ERROR included), no row written by a
 * mutation that failed, a trivial query answered within 1 s throughout, and each alias flood refused at the door
 * by the alias (or cost) limit, as GRAPHQL_VALIDATION_FAILED with nothing executed. The sweep goes over HTTP; the
 * same limits over WebSocket are asserted in trust.test.ts.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
} from 'graphql';
import { MAX_ALIASES } from '../../../src/api/limits';
import { buildApiSchema } from '../../../src/api/schema';
import { writeDemoModel } from '../../../src/models/demo';
import { CREATE_DATASET, REGISTER_MODEL, sftJsonl, startTestApi, TestApi } from '../support/api';
import type { GqlResult } from '../support/client';
import { insertEvaluation, insertTrainingJob } from '../evaluations/support';

const STABLE_CODES = new Set([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'FORBIDDEN',
  'GRAPHQL_VALIDATION_FAILED',
  'GRAPHQL_PARSE_FAILED',
  'BAD_REQUEST',
  'BODY_TOO_LARGE',
]);

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** Bad strings for every String or ID place. */
const BAD_STRINGS = [
  '',
  'not-a-uuid',
  'x'.repeat(200_000),
  'a\u0000b',
  'lone \ud800 surrogate',
  '\udc00',
  '{"prompt": "unterminated',
  '{"prompt": "\\u0000", "response": "r"}',
  '{"prompt": "\\ud800", "response": "r"}\n{"prompt": 1}',
  b64('+275760-09-13T00:00:00.000Z|00000000-0000-0000-0000-000000000000'),
  b64(JSON.stringify(['index', 1e308, 'abc'])),
  '/etc/passwd',
];
const BAD_INTS = [-1, 0, 2 ** 31, -(2 ** 31) - 1, 1.5, 1e15];
const BAD_FLOATS = [-1, 0, 1e308, -1e308, 2 ** 53];
const WRONG_TYPE = [{ an: 'object' }, true];

type Path = (string | number)[];

/** A plausible value of `type`; `ids` picks an id for an ID place by its name. */
function sample(type: GraphQLInputType, name: string, ids: (name: string) => string, depth = 0): unknown {
  const t = getNullableType(type);
  if (isListType(t)) return [sample(t.ofType, name, ids, depth)];
  if (isInputObjectType(t)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(t.getFields())) {
      if (isNonNullType(f.type) && f.defaultValue === undefined)
        out[f.name] = sample(f.type, f.name, ids, depth + 1);
    }
    return out;
  }
  if (isEnumType(t)) return t.getValues()[0].value;
  switch (getNamedType(t).name) {
    case 'Int':
      return 1;
    case 'Float':
      return 0.5;
    case 'Boolean':
      return false;
    case 'ID':
      return ids(name);
    case 'DateTimeISO':
      return new Date().toISOString();
    case 'JSONObject':
      return {};
    default:
      return name === 'jsonl' ? sftJsonl(2) : `sweep ${name}`;
  }
}

/** Every place in an input type (fields of input objects, items of lists), with its type. */
function places(type: GraphQLInputType, at: Path, depth = 0): { at: Path; type: GraphQLInputType }[] {
  const out = [{ at, type }];
  const t = getNullableType(type);
  if (depth > 3) return out;
  if (isListType(t)) out.push(...places(t.ofType, [...at, 0], depth + 1));
  if (isInputObjectType(t))
    for (const f of Object.values(t.getFields())) out.push(...places(f.type, [...at, f.name], depth + 1));
  return out;
}

const MISSING = Symbol('missing');

/** The bad values of one place (leaving out an optional value, or nulling it, is not bad). */
function badValues(type: GraphQLInputType, otherIds: string[]): unknown[] {
  const t = getNullableType(type);
  const out: unknown[] = [...(isNonNullType(type) ? [MISSING, null] : []), ...WRONG_TYPE];
  if (isListType(t))
    out.push(
      [],
      Array.from({ length: 1000 }, () => null),
      Array.from({ length: 2000 }, () => 'x'),
    );
  else if (isEnumType(t)) out.push('NOT_A_VALUE', 'sft');
  else if (isLeafType(t)) {
    const name = getNamedType(t).name;
    if (name === 'Int') out.push('7', ...BAD_INTS);
    if (name === 'Float') out.push('0.5', ...BAD_FLOATS);
    if (name === 'String' || name === 'ID') out.push(7);
    if (name === 'String' || name === 'ID') out.push(...BAD_STRINGS);
    if (name === 'ID') out.push(...otherIds);
    if (name === 'DateTimeISO')
      out.push('-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', 'yesterday');
  }
  return out;
}

function setAt(root: Record<string, unknown>, at: Path, value: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  let node: Record<string | number, unknown> = copy;
  for (const key of at.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = typeof key === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  }
  const last = at[at.length - 1];
  if (value === MISSING) delete node[last];
  else node[last] = value;
  return copy;
}

/** A selection of `type`'s fields that need no arguments, two levels down (enough to resolve lists and edges). */
function selection(type: GraphQLOutputType, depth = 0): string {
  const named = getNamedType(type);
  if (!isObjectType(named)) return '';
  const fields = Object.values(named.getFields()).filter((f) => f.args.every((a) => !isNonNullType(a.type)));
  const parts = fields.flatMap((f) => {
    if (isLeafType(getNamedType(f.type))) return [f.name];
    if (depth >= 2) return [];
    const inner = selection(f.type, depth + 1);
    return inner ? [`${f.name} ${inner}`] : [];
  });
  return `{ __typename ${parts.join(' ')} }`;
}

const typeName = (type: GraphQLInputType) => type.toString();

interface Target {
  kind: 'query' | 'mutation';
  field: GraphQLField<unknown, unknown>;
  /** Wraps the field's selection in its parent's, for fields of objects. */
  wrap: (inner: string) => string;
  /** Variables the wrapper declares and passes. */
  outerVars: { decl: string; values: Record<string, unknown> };
}

describe('sweep: malformed input to every mutation and query', () => {
  let api: TestApi;
  let modelDir: string;
  const counts = { requests: 0, cases: 0, targets: 0 };
  let slowest = 0;
  let probing = true;
  let probe: Promise<void>;

  beforeAll(async () => {
    api = await startTestApi({ WHETSTONE_IMPORT_ROOT: '' });
    modelDir = path.join(api.env.config.importRoot as string, 'demo');
    writeDemoModel(modelDir);
  });
  afterAll(async () => {
    probing = false;
    await probe;
    await api.close();
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('answers every case with a stable code, never a 500, stores nothing for a failed mutation, stays responsive', async () => {
    const schema = await buildApiSchema();
    const db = api.app.db;
    const projectId = (await api.admin(`{ viewer { project { id } } }`)).data!.viewer.project.id;
    const model = (await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } })).data!
      .registerModel.id;
    const dataset = (
      await api.admin(CREATE_DATASET, { input: { name: 'qa', kind: 'SFT', jsonl: sftJsonl(8) } })
    ).data!.createDataset.id;
    const job = await insertTrainingJob(db, {
      projectId,
      baseModelId: model,
      datasetId: dataset,
      status: 'FAILED',
      checkpoints: [{ step: 1, path: modelDir }],
    });
    const evaluation = await insertEvaluation(db, {
      projectId,
      baseModelId: model,
      datasetId: dataset,
      trainingJobId: job.id,
      checkpointId: job.checkpoints[0],
      v: 0.5,
      createdAt: new Date(),
    });
    const spareKey = (
      await api.admin(`mutation { createApiKey(input: { name: "spare" }) { apiKey { id } } }`)
    ).data!.createApiKey.apiKey.id;
    const other = (
      await api.admin(
        `mutation { createProject(input: { name: "other" }) { project { id } adminKey { apiKey { id } } } }`,
      )
    ).data!.createProject;
    const theirModel = (
      await db.query(
        `INSERT INTO base_models (project_id, name, path, architecture, model_type, parameter_count, max_sequence_length, vocabulary_size)
       SELECT $1, name, path, architecture, model_type, parameter_count, max_sequence_length, vocabulary_size FROM base_models WHERE id = $2 RETURNING id`,
        [other.project.id, model],
      )
    )[0].id;
    const theirDataset = (
      await db.query(
        `INSERT INTO datasets (project_id, name, kind, row_count, train_row_count, validation_row_count, validation_split_ratio, split_seed, source)
       VALUES ($1, 'theirs', 'SFT', 1, 1, 0, 0, 0, 'inline') RETURNING id`,
        [other.project.id],
      )
    )[0].id;
    const theirJob = await insertTrainingJob(db, {
      projectId: other.project.id,
      baseModelId: theirModel,
      datasetId: theirDataset,
      checkpoints: [{ step: 1, path: '/theirs' }],
    });
    const theirEvaluation = await insertEvaluation(db, {
      projectId: other.project.id,
      baseModelId: theirModel,
      datasetId: theirDataset,
      v: 0.1,
      createdAt: new Date(),
    });
    const otherIds = [
      other.project.id,
      other.adminKey.apiKey.id,
      theirModel,
      theirDataset,
      theirJob.id,
      theirJob.checkpoints[0],
      theirEvaluation,
      model,
      job.checkpoints[0],
      '00000000-0000-4000-8000-000000000000',
    ];
    /** The project's own id of the kind a place's name suggests. */
    const ids = (name: string) => {
      const n = name.toLowerCase();
      if (n.includes('model') && !n.includes('job')) return model;
      if (n.includes('dataset')) return dataset;
      if (n.includes('checkpoint')) return job.checkpoints[0];
      if (n.includes('evaluation')) return evaluation;
      if (n.includes('job')) return job.id;
      return spareKey;
    };

    const tables: string[] = (
      await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
                       AND table_type = 'BASE TABLE' AND table_name <> 'migrations'`)
    ).map((r: { table_name: string }) => r.table_name);
    const snapshot = async () =>
      JSON.stringify(
        (
          await db.query(`SELECT ${tables.map((t) => `(SELECT count(*) FROM "${t}") AS "${t}"`).join(', ')}`)
        )[0],
      );

    const failures: string[] = [];
    let rows = await snapshot();
    probe = (async () => {
      while (probing) {
        const started = Date.now();
        const r = await api.admin(`{ viewer { apiKey { id } } }`);
        if (r.errors) failures.push(`the trivial query failed: ${JSON.stringify(r.errors)}`);
        slowest = Math.max(slowest, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    const send = async (target: Target, args: Record<string, unknown> | string, label: string) => {
      const { field, kind } = target;
      const argList = field.args;
      let query: string;
      const variables: Record<string, unknown> = { ...target.outerVars.values };
      if (typeof args === 'string') query = args;
      else {
        const decl = [target.outerVars.decl, ...argList.map((a, i) => `$a${i}: ${typeName(a.type)}`)]
          .filter(Boolean)
          .join(', ');
        const passed = argList.map((a, i) => `${a.name}: $a${i}`).join(', ');
        const call = `${field.name}${argList.length ? `(${passed})` : ''} ${selection(field.type)}`;
        query = `${kind}${decl ? `(${decl})` : ''} ${target.wrap(call)}`;
        argList.forEach((a, i) => {
          if (a.name in args) variables[`a${i}`] = args[a.name];
        });
      }
      let r: GqlResult;
      try {
        r = await api.admin(query, variables);
      } catch (err) {
        failures.push(`${label}: request failed (${String(err)})`);
        return null;
      }
      counts.requests++;
      if (r.status >= 500)
        failures.push(`${label}: HTTP ${r.status} ${JSON.stringify(r.errors).slice(0, 300)}`);
      for (const e of r.errors ?? []) {
        const code = e.extensions?.code;
        if (typeof code !== 'string' || !STABLE_CODES.has(code))
          failures.push(`${label}: code ${String(code)}: ${e.message.slice(0, 200)}`);
        if (e.message.length > 501) failures.push(`${label}: a ${e.message.length}-character message`);
      }
      if (kind === 'mutation') {
        // Rows change only through mutations, so the last snapshot is the state before this one.
        const after = await snapshot();
        if (r.errors && after !== rows) failures.push(`${label}: a failed mutation wrote rows`);
        rows = after;
      }
      return r;
    };

    const roots = (kind: 'query' | 'mutation', type: GraphQLObjectType | null | undefined): Target[] =>
      Object.values(type?.getFields() ?? {})
        .filter((f) => kind === 'mutation' || f.args.length > 0)
        .map((field) => ({
          kind,
          field,
          wrap: (inner) => `{ ${inner} }`,
          outerVars: { decl: '', values: {} },
        }));
    /** Fields with arguments of the objects that a query by id returns (e.g. Dataset.rows, EvaluationJob.samples). */
    const nested: Target[] = Object.values(schema.getQueryType()!.getFields())
      .filter(
        (root) =>
          root.args.length === 1 && root.args[0].name === 'id' && isObjectType(getNamedType(root.type)),
      )
      .flatMap((root) =>
        Object.values((getNamedType(root.type) as GraphQLObjectType).getFields())
          .filter((f) => f.args.length > 0)
          .map((field) => ({
            kind: 'query' as const,
            field,
            wrap: (inner: string) => `{ ${root.name}(id: $parent) { ${inner} } }`,
            outerVars: { decl: '$parent: ID!', values: { parent: ids(root.name) } },
          })),
      );
    const targets = [
      ...roots('mutation', schema.getMutationType()),
      ...roots('query', schema.getQueryType()),
      ...nested,
    ];
    counts.targets = targets.length;

    for (const target of targets) {
      const label = (what: string) =>
        `${target.kind} ${target.wrap(target.field.name).replace(/[{}]/g, '').trim()} ${what}`;
      const baseline: Record<string, unknown> = {};
      for (const a of target.field.args as GraphQLArgument[])
        if (isNonNullType(a.type) && a.defaultValue === undefined)
          baseline[a.name] = sample(a.type, a.name, ids);
      counts.cases++;
      await send(target, baseline, label('baseline'));
      for (const a of target.field.args) {
        for (const place of places(a.type, [a.name])) {
          for (const value of badValues(place.type, otherIds)) {
            counts.cases++;
            const shown = value === MISSING ? 'missing' : JSON.stringify(value)?.slice(0, 40);
            await send(target, setAt(baseline, place.at, value), label(`${place.at.join('.')} = ${shown}`));
          }
        }
      }
      // An alias flood of the field with its baseline arguments, written inline.
      counts.cases++;
      const literal = (v: unknown): string =>
        Array.isArray(v)
          ? `[${v.map(literal).join(', ')}]`
          : v !== null && typeof v === 'object'
            ? `{ ${Object.entries(v)
                .map(([k, x]) => `${k}: ${literal(x)}`)
                .join(', ')} }`
            : typeof v === 'string' && /^[A-Z_]+$/.test(v) && v !== 'x'
              ? v
              : JSON.stringify(v);
      const argText = Object.entries(baseline)
        .map(([k, v]) => `${k}: ${literal(v)}`)
        .join(', ');
      const one = (i: number) =>
        `f${i}: ${target.field.name}${argText ? `(${argText})` : ''} ${selection(target.field.type)}`;
      // One alias over the limit: the flood is refused before anything runs (no data, the limit's message).
      const flood = Array.from({ length: MAX_ALIASES + 1 }, (_, i) => one(i)).join(' ');
      const floodResult = await send(
        target,
        `${target.kind}${target.outerVars.decl ? `(${target.outerVars.decl})` : ''} ${target.wrap(flood)}`,
        label('alias flood'),
      );
      const refusal = floodResult?.errors?.[0];
      if (
        !floodResult ||
        floodResult.data != null ||
        refusal?.extensions?.code !== 'GRAPHQL_VALIDATION_FAILED' ||
        !/(Aliases|Query Cost) limit of \d+ exceeded/.test(refusal.message)
      )
        failures.push(
          `${label('alias flood')}: not refused by the alias or cost limit: ${JSON.stringify(floodResult?.errors?.[0] ?? floodResult?.data ?? null).slice(0, 200)}`,
        );
    }

    probing = false;
    await probe;

    console.log(
      `sweep: ${counts.targets} operations and fields, ${counts.cases} cases, ${counts.requests} requests; slowest trivial query ${slowest} ms`,
    );
    expect(failures).toEqual([]);
    expect(slowest).toBeLessThan(1000);
    expect(counts.targets).toBeGreaterThan(20);
  }, 120_000);
});
