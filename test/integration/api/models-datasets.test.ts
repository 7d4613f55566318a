import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CREATE_DATASET,
  demoModelDir,
  REGISTER_MODEL,
  sftJsonl,
  startTestApi,
  TestApi,
} from '../support/api';
import { errorCode } from '../support/client';

describe('models and datasets', () => {
  let api: TestApi;
  let modelDir: string;
  let scratch: string;
  beforeAll(async () => {
    api = await startTestApi();
    modelDir = demoModelDir();
    scratch = mkdtempSync(path.join(os.tmpdir(), 'whetstone-import-'));
  });
  afterAll(async () => {
    await api.close();
    rmSync(modelDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  const count = async (table: string) =>
    Number((await api.app.db.query(`SELECT count(*) AS n FROM ${table}`))[0].n);

  it('registers a model folder with its architecture, parameter count and limits', async () => {
    const result = await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } });
    expect(result.errors).toBeUndefined();
    const config = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
    const h = config.hidden_size;
    const kv = (config.num_key_value_heads * h) / config.num_attention_heads;
    const perLayer = 2 * h * h + 2 * kv * h + 3 * h * config.intermediate_size + 2 * h;
    const expected =
      config.vocab_size * h * (config.tie_word_embeddings ? 1 : 2) + config.num_hidden_layers * perLayer + h;
    expect(result.data?.registerModel).toMatchObject({
      name: 'demo',
      path: modelDir,
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      parameterCount: expected,
      maxSequenceLength: config.max_position_embeddings,
      vocabularySize: config.vocab_size,
    });
    const listed = await api.admin(`{ models { id name } }`);
    expect(listed.data?.models).toEqual([{ id: result.data?.registerModel.id, name: 'demo' }]);
  });

  it('rejects bad model folders with BAD_USER_INPUT at input.path and stores nothing', async () => {
    const before = await count('base_models');
    const badConfig = mkdtempSync(path.join(scratch, 'bad-config-'));
    writeFileSync(path.join(badConfig, 'config.json'), '{"model_type": "resnet"}');
    writeFileSync(path.join(badConfig, 'tokenizer.json'), '{}');
    for (const dir of ['relative/path', path.join(scratch, 'missing'), scratch, badConfig]) {
      const result = await api.admin(REGISTER_MODEL, { input: { name: `m-${dir}`, path: dir } });
      expect(result.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        path: ['input', 'path'],
      });
    }
    const dup = await api.admin(REGISTER_MODEL, { input: { name: 'demo', path: modelDir } });
    expect(dup.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', path: ['input', 'name'] });
    expect(await count('base_models')).toBe(before);
  });

  it('imports inline JSONL with a seeded validation split, rows stored for workers', async () => {
    const input = { name: 'qa', kind: 'SFT', jsonl: sftJsonl(20), validationSplitRatio: 0.25, splitSeed: 7 };
    const result = await api.admin(CREATE_DATASET, { input });
    expect(result.data?.createDataset).toMatchObject({
      kind: 'SFT',
      rowCount: 20,
      trainRowCount: 15,
      validationRowCount: 5,
      source: 'inline',
    });
    const id = result.data?.createDataset.id;
    const rows = await api.admin(
      `query($id: ID!) { dataset(id: $id) { rows(limit: 100) v: rows(validation: true) } }`,
      {
        id,
      },
    );
    expect(rows.data?.dataset.rows).toHaveLength(15);
    expect(rows.data?.dataset.v).toHaveLength(5);
    expect(rows.data?.dataset.rows[0]).toEqual({ prompt: 'Q0: what is 0 plus one?', response: ' 1' });

    // The same seed holds out the same rows.
    const again = await api.admin(CREATE_DATASET, { input: { ...input, name: 'qa-again' } });
    const v2 = await api.admin(`query($id: ID!) { dataset(id: $id) { v: rows(validation: true) } }`, {
      id: again.data?.createDataset.id,
    });
    expect(v2.data?.dataset.v).toEqual(rows.data?.dataset.v);
  });

  it('imports a server-side JSONL file and normalizes the accepted spellings', async () => {
    const file = path.join(scratch, 'prefs.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ prompt: 'p1', chosen: 'good', rejected: 'bad' }),
        '',
        JSON.stringify([{ prompt: 'p2', response: [['better'], ['worse']] }]),
      ].join('\n'),
    );
    const result = await api.admin(CREATE_DATASET, {
      input: { name: 'prefs', kind: 'PREFERENCE', path: file },
    });
    expect(result.data?.createDataset).toMatchObject({ rowCount: 2, source: file });
    const rows = await api.admin(`query($id: ID!) { dataset(id: $id) { rows } }`, {
      id: result.data?.createDataset.id,
    });
    expect(rows.data?.dataset.rows).toEqual([
      { prompt: 'p1', chosen: 'good', rejected: 'bad' },
      { prompt: 'p2', chosen: 'better', rejected: 'worse' },
    ]);
  });

  it('ends a rows page early once it holds 16 MiB, and the next page continues where it stopped', async () => {
    const file = path.join(scratch, 'large.jsonl');
    const prompt = (i: number) => `${i}:`.padEnd(1_000_000, 'x');
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ prompt: prompt(i), response: ' r' }));
    writeFileSync(file, lines.join('\n'));
    const created = await api.admin(CREATE_DATASET, { input: { name: 'large', kind: 'SFT', path: file } });
    expect(created.errors).toBeUndefined();
    const page = async (offset: number) => {
      const result = await api.admin(
        `query($id: ID!, $offset: Int!) { dataset(id: $id) { rows(offset: $offset, limit: 100) } }`,
        { id: created.data?.createDataset.id, offset },
      );
      expect(result.errors).toBeUndefined();
      return (result.data?.dataset.rows as { prompt: string }[]).map((r) => r.prompt);
    };
    const first = await page(0);
    // A row is ~1 MB stored, so the page stops after the row that crosses 16 MiB.
    expect(first.length).toBeGreaterThan(10);
    expect(first.length).toBeLessThan(20);
    const rest = await page(first.length);
    expect([...first, ...rest]).toEqual(lines.map((_, i) => prompt(i)));
  });

  it('rejects a bad row naming its line, and every other bad import, storing nothing', async () => {
    const before = [await count('datasets'), await count('dataset_rows')];
    const broken = [sftJsonl(2), '{"prompt": "only a prompt"}', sftJsonl(1)].join('\n');
    const result = await api.admin(CREATE_DATASET, { input: { name: 'broken', kind: 'SFT', jsonl: broken } });
    expect(result.errors?.[0].message).toMatch(/line 3/);
    expect(result.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(result.errors?.[0].extensions?.path?.slice(0, 4)).toEqual(['input', 'jsonl', 'line', '3']);

    const cases: [Record<string, unknown>, string[]][] = [
      [{ kind: 'SFT', jsonl: 'not json' }, ['input', 'jsonl', 'line', '1']],
      [{ kind: 'PROMPT_ONLY', jsonl: '' }, ['input', 'jsonl']],
      [{ kind: 'SFT' }, ['input']],
      [{ kind: 'SFT', jsonl: sftJsonl(2), path: '/etc/hostname' }, ['input']],
      [{ kind: 'SFT', path: 'relative.jsonl' }, ['input', 'path']],
      [{ kind: 'SFT', path: path.join(scratch, 'none.jsonl') }, ['input', 'path']],
      [{ kind: 'SFT', jsonl: sftJsonl(2), validationSplitRatio: 0.9 }, ['input', 'validationSplitRatio']],
      [{ kind: 'PREFERENCE', jsonl: sftJsonl(2) }, ['input', 'jsonl', 'line', '1']],
      [{ kind: 'SFT', jsonl: sftJsonl(2), name: 'qa' }, ['input', 'name']],
    ];
    for (const [fields, where] of cases) {
      const r = await api.admin(CREATE_DATASET, { input: { name: 'bad', ...fields } });
      expect(errorCode(r)).toBe('BAD_USER_INPUT');
      expect(r.errors?.[0].extensions?.path?.slice(0, where.length)).toEqual(where);
    }
    expect([await count('datasets'), await count('dataset_rows')]).toEqual(before);
  });
});
