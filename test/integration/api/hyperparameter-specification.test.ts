/** `hyperparameterSpecification`: what front ends build the creation form from, in step with createTrainingJob. */
import { CREATE_DATASET, CREATE_JOB, REGISTER_MODEL, sftJsonl, startTestApi, TestApi } from '../support/api';
import { errorCode } from '../support/client';
import { writeDemoModel } from '../../../src/models/demo';
import { DEMO_RECOMMENDED, writeRecommendations } from '../../../src/training/demo-model';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SPEC = `query($method: TrainingMethod, $scale: ParameterScale, $model: ID) {
  hyperparameterSpecification(method: $method, parameterScale: $scale, baseModelId: $model) {
    fields { name type nullable minimum minimumExclusive maximum allowedValues maxLength maxItems itemMaxLength
             itemPattern default defaultDescription methods parameterScales applies description }
    rules { fields description }
  }
}`;

describe('hyperparameterSpecification', () => {
  let api: TestApi;
  let modelId: string;
  let sftId: string;
  let dir: string;

  beforeAll(async () => {
    api = await startTestApi();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-spec-model-'));
    writeDemoModel(dir, { maxPositionEmbeddings: 1024 });
    modelId = (await api.admin(REGISTER_MODEL, { input: { name: 'short', path: dir } })).data?.registerModel
      .id;
    sftId = (await api.admin(CREATE_DATASET, { input: { name: 'sft', kind: 'SFT', jsonl: sftJsonl(8) } }))
      .data?.createDataset.id;
  });
  afterAll(async () => {
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const fields = async (vars: Record<string, unknown> = {}) => {
    const r = await api.admin(SPEC, vars);
    expect(r.errors).toBeUndefined();
    const list = r.data?.hyperparameterSpecification.fields as { name: string }[];
    return new Map(list.map((f) => [f.name, f as Record<string, unknown>]));
  };

  it('lists every input field of createTrainingJob, in the input order, with types, limits and defaults', async () => {
    const all = await fields();
    const input = await api.admin(
      `{ __type(name: "TrainingHyperparametersInput") { inputFields { name } } }`,
    );
    const names = input.data?.__type.inputFields.map((f: { name: string }) => f.name);
    expect([...all.keys()].sort()).toEqual([...names].sort());
    expect(all.get('epochs')).toMatchObject({
      type: 'INT',
      minimum: 1,
      maximum: 1000,
      default: 3,
      applies: true,
    });
    expect(all.get('learningRate')).toMatchObject({
      type: 'FLOAT',
      minimum: 0,
      minimumExclusive: true,
      maximum: 1,
    });
    expect(all.get('lrScheduler')).toMatchObject({ type: 'ENUM', default: 'LINEAR' });
    expect(all.get('lrScheduler')?.allowedValues).toContain('COSINE_WITH_RESTARTS');
    expect(all.get('loraTargets')).toMatchObject({
      type: 'STRING_LIST',
      maxItems: 64,
      default: ['q_proj', 'v_proj'],
      parameterScales: ['LORA'],
    });
    expect(all.get('promptTuningInitText')).toMatchObject({ type: 'STRING', nullable: true, default: null });
    expect(all.get('checkpointEverySteps')).toMatchObject({ default: 50, minimum: 0 });
    expect(all.get('maxSequenceLength')).toMatchObject({ default: null, maximum: 4096 });
    expect(all.get('beta')).toMatchObject({ methods: ['DPO'] });
    const spec = await api.admin(SPEC, {});
    expect(spec.data?.hyperparameterSpecification.rules.length).toBeGreaterThan(0);
  });

  it('gives the defaults and limits of a method, scale and model, and says what applies', async () => {
    const pt = await fields({ method: 'SFT', scale: 'PROMPT_TUNING', model: modelId });
    expect(pt.get('maxSequenceLength')).toMatchObject({ default: 1004, maximum: 1024 });
    expect(pt.get('numVirtualTokens')).toMatchObject({ applies: true, default: 20 });
    expect(pt.get('loraRank')).toMatchObject({ applies: false });
    const rl = await fields({ method: 'RL', scale: 'LORA' });
    expect(rl.get('evalEverySteps')).toMatchObject({ applies: true });
    expect(rl.get('evalMetricsAtEpochEnd')).toMatchObject({ applies: false });
    expect(rl.get('numGenerations')).toMatchObject({ applies: true });
    const missing = await api.admin(SPEC, { model: '00000000-0000-4000-8000-000000000000' });
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
  });

  it('the defaults it shows are what a job created without hyperparameters gets', async () => {
    const pt = await fields({ method: 'SFT', scale: 'PROMPT_TUNING', model: modelId });
    const created = await api.admin(CREATE_JOB, {
      input: {
        name: 'pt',
        baseModelId: modelId,
        datasetId: sftId,
        method: 'SFT',
        parameterScale: 'PROMPT_TUNING',
      },
    });
    expect(created.errors).toBeUndefined();
    const shown = await api.admin(
      `query($id: ID!) { trainingJob(id: $id) { hyperparameters { maxSequenceLength numVirtualTokens epochs } } }`,
      { id: created.data?.createTrainingJob.id },
    );
    expect(shown.data?.trainingJob.hyperparameters).toEqual({
      maxSequenceLength: pt.get('maxSequenceLength')?.default,
      numVirtualTokens: pt.get('numVirtualTokens')?.default,
      epochs: pt.get('epochs')?.default,
    });
  });

  it('trainingMethods lists every method with the dataset kind and the scales createTrainingJob accepts', async () => {
    const r = await api.admin(`{
      trainingMethods { method datasetKind parameterScales }
      methods: __type(name: "TrainingMethod") { enumValues { name } }
      scales: __type(name: "ParameterScale") { enumValues { name } }
    }`);
    expect(r.errors).toBeUndefined();
    type Info = { method: string; datasetKind: string; parameterScales: string[] };
    const infos = r.data?.trainingMethods as Info[];
    const names = (t: { enumValues: { name: string }[] }) => t.enumValues.map((v) => v.name);
    expect(infos.map((m) => m.method)).toEqual(names(r.data?.methods));
    expect(infos.find((m) => m.method === 'REWARD_MODEL')).toEqual({
      method: 'REWARD_MODEL',
      datasetKind: 'PREFERENCE',
      parameterScales: ['FULL', 'LORA'],
    });
    const create = (method: string, datasetId: string, parameterScale: string) =>
      api.admin(CREATE_JOB, {
        input: { name: 'm', baseModelId: modelId, datasetId, method, parameterScale },
      });
    const datasets = new Map([['SFT', sftId]]);
    for (const { method, datasetKind, parameterScales } of infos) {
      if (!datasets.has(datasetKind)) {
        const created = await api.admin(CREATE_DATASET, {
          input: {
            name: datasetKind,
            kind: datasetKind,
            jsonl: '{"prompt":"p","chosen":"a","rejected":"b","response":"r"}',
          },
        });
        datasets.set(datasetKind, created.data?.createDataset.id);
      }
      const ofKind = datasets.get(datasetKind)!;
      if (datasetKind !== 'SFT') {
        expect((await create(method, sftId, parameterScales[0])).errors?.[0].extensions).toMatchObject({
          code: 'BAD_USER_INPUT',
          path: ['input', 'datasetId'],
        });
      }
      for (const scale of names(r.data?.scales).filter((s) => !parameterScales.includes(s))) {
        expect((await create(method, ofKind, scale)).errors?.[0].extensions).toMatchObject({
          code: 'BAD_USER_INPUT',
          path: ['input', 'parameterScale'],
        });
      }
    }
  });

  it('creates jobs with every documented value: checkpointEverySteps 0; PROMPT_TUNING within the model', async () => {
    const job = (parameterScale: string, hyperparameters: Record<string, unknown>) =>
      api.admin(CREATE_JOB, {
        input: {
          name: 'j',
          baseModelId: modelId,
          datasetId: sftId,
          method: 'SFT',
          parameterScale,
          hyperparameters,
        },
      });
    const zero = await job('LORA', { checkpointEverySteps: 0 });
    expect(zero.errors).toBeUndefined();
    const tooLong = await job('PROMPT_TUNING', { maxSequenceLength: 1024 });
    expect(tooLong.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      path: ['input', 'hyperparameters', 'maxSequenceLength'],
    });
  });

  it("takes a model's recommended defaults (the demo model's config.json) in the form and in a job", async () => {
    const demoLike = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-spec-recommends-'));
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-spec-recommends-bad-'));
    try {
      writeDemoModel(demoLike);
      writeRecommendations(demoLike, DEMO_RECOMMENDED);
      const model = (await api.admin(REGISTER_MODEL, { input: { name: 'recommends', path: demoLike } })).data
        ?.registerModel.id;
      const lora = await fields({ method: 'SFT', scale: 'LORA', model });
      expect(lora.get('epochs')).toMatchObject({
        default: 10,
        defaultDescription: "10, recommended by the base model (the field's own: 3)",
      });
      expect(lora.get('batchSize')?.default).toBe(2);
      expect(lora.get('learningRate')?.default).toBe(0.01);
      expect(lora.get('loraTargets')?.default).toEqual(['all-linear']);
      expect(lora.get('loraRank')).toMatchObject({ default: 8, defaultDescription: '8' });
      // Another scale takes its own recommendation; a field that does not apply shows no recommended value.
      const full = await fields({ method: 'SFT', scale: 'FULL', model });
      expect(full.get('learningRate')?.default).toBe(3e-4);
      expect(full.get('loraTargets')).toMatchObject({ applies: false, default: ['q_proj', 'v_proj'] });
      // Without a scale there is no recommendation to take; another model has none.
      expect((await fields({ method: 'SFT', model })).get('epochs')?.default).toBe(3);
      expect((await fields({ method: 'SFT', scale: 'LORA', model: modelId })).get('epochs')?.default).toBe(3);

      const create = (hyperparameters: Record<string, unknown>) =>
        api.admin(CREATE_JOB, {
          input: {
            name: 'first',
            baseModelId: model,
            datasetId: sftId,
            method: 'SFT',
            parameterScale: 'LORA',
            hyperparameters,
          },
        });
      const first = await create({});
      expect(first.errors).toBeUndefined();
      expect(first.data?.createTrainingJob.hyperparameters).toMatchObject({
        epochs: 10,
        batchSize: 2,
        learningRate: 0.01,
        loraTargets: ['all-linear'],
        loraRank: 8,
      });
      const given = await create({ epochs: 4, loraTargets: ['q_proj'] });
      expect(given.data?.createTrainingJob.hyperparameters).toMatchObject({
        epochs: 4,
        batchSize: 2,
        loraTargets: ['q_proj'],
      });

      writeDemoModel(bad);
      writeRecommendations(bad, { LORA: { learningRate: 5 } });
      const refused = await api.admin(REGISTER_MODEL, { input: { name: 'bad', path: bad } });
      expect(refused.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        path: ['input', 'path'],
      });
      expect(refused.errors?.[0].message).toContain(
        'whetstone.recommended_hyperparameters.LORA.learningRate must be a number > 0 and <= 1, got 5',
      );
    } finally {
      fs.rmSync(demoLike, { recursive: true, force: true });
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });
});
