/**
 * RL resume (full, LoRA, prompt tuning), with tiny random models made in the test: a run stopped after its first
 * iteration (mid-epoch, so the epoch's prompt order comes from the checkpoint) and resumed from that checkpoint
 * with freshly loaded modules must take exactly the steps of the run that went straight through: the same
 * sampling seeds, prompt shuffles, Adam moments and reference, hence the same losses, rewards and KL. A checkpoint
 * of another run configuration is refused as for the other methods.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeDemoModel } from '../../../../src/models/demo';
import { loadModel } from '../../../../src/models/model';
import { rlMethod } from '../../../../src/training/alignment/methods';
import { rewardParameterization } from '../../../../src/training/alignment/reward-model';
import { withScoreHead } from '../../../../src/training/alignment/score-head';
import { DatasetRow } from '../../../../src/data';
import { parseHyperparameters } from '../../../../src/training/hyperparameters';
import type { EngineScale as ParameterScale } from '../../../../src/vocabulary';
import { StepEvent } from '../../../../src/training/progress';
import { Rng } from '../../../../src/util/rng';
import type { RunResult, TrainingRequest } from '../../../../src/training/run';

jest.setTimeout(60_000);

const TINY = {
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 64,
  maxPositionEmbeddings: 64,
};
const ROWS: DatasetRow[] = [{ prompt: 'Q:' }, { prompt: 'A?' }, { prompt: 'x=' }];

let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-rl-resume-'));
  writeDemoModel(path.join(tmp, 'policy'), { ...TINY, seed: 1 });
  writeDemoModel(path.join(tmp, 'rm-base'), { ...TINY, seed: 100 });
  // An untrained reward model scores at random, yet deterministically: what the comparison needs.
  const rng = Rng.fromSeed(5);
  const rm = withScoreHead(await loadModel(path.join(tmp, 'rm-base')), () => rng.next());
  const hyperparameters = parseHyperparameters({});
  const params = rewardParameterization(rm, { scale: 'full', hyperparameters, adapterDir: null, rng });
  params.save(path.join(tmp, 'rm'), params.initial);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function request(
  scale: ParameterScale,
  output: string,
  o: { resumeFrom?: string; rows?: DatasetRow[]; hp?: Record<string, unknown> } = {},
): TrainingRequest {
  return {
    method: rlMethod,
    parameterScale: scale,
    modelPath: path.join(tmp, 'policy'),
    rows: o.rows ?? ROWS,
    template: 'plain',
    initAdapter: null,
    // 3 prompts in batches of 2 over 2 epochs: 4 iterations of 2 optimizer steps, a shuffle per epoch.
    hyperparameters: parseHyperparameters({
      epochs: 2,
      batchSize: 2,
      numGenerations: 4,
      maxNewTokens: 3,
      rlEpochs: 2,
      gradientAccumulationSteps: 2,
      learningRate: 1e-2,
      loraRank: 4,
      loraDropout: 0.1, // the trainer's dropout draws come from the run's RNG too
      ...o.hp,
    }),
    output: path.join(tmp, output),
    resumeFrom: o.resumeFrom ?? null,
    executionProvider: 'cpu',
    threads: 2,
    rewardModelPath: path.join(tmp, 'rm'),
  };
}

/** A run in freshly loaded modules (nothing cached from an earlier run), stopping once `stopAfter` steps are done. */
async function run(req: TrainingRequest, stopAfter = Infinity) {
  const steps: StepEvent[] = [];
  let result: RunResult | undefined;
  await jest.isolateModulesAsync(async () => {
    const { runTraining } = await import('../../../../src/training/run');
    // The method's driver from the same fresh modules (engine classes must not mix registries).
    const fresh = await import('../../../../src/training/alignment/methods');
    result = await runTraining(
      { ...req, method: fresh.rlMethod },
      {
        onStep: (e) => void steps.push(e),
        onCheckpoint: () => undefined,
        shouldStop: () => steps.length >= stopAfter,
      },
    );
  });
  return { steps, result: result! };
}

const trajectory = (steps: StepEvent[]) =>
  steps.map((e) => ({
    step: e.step,
    epoch: e.epoch,
    loss: e.loss,
    gradNorm: e.gradNorm,
    learningRate: e.learningRate,
    rewardMean: e.extra!.rewardMean,
    kl: e.extra!.kl,
  }));

function expectClose(actual: ReturnType<typeof trajectory>, expected: ReturnType<typeof trajectory>) {
  expect(actual.map((s) => s.step)).toEqual(expected.map((s) => s.step));
  for (const [i, s] of actual.entries()) {
    for (const key of ['epoch', 'loss', 'gradNorm', 'learningRate', 'rewardMean', 'kl'] as const) {
      expect(Math.abs(s[key] - expected[i][key])).toBeLessThan(1e-6);
    }
  }
}

describe.each(['full', 'lora', 'prompt_tuning'] as const)('%s', (scale) => {
  test('stop after one iteration + resume in fresh modules = the straight run', async () => {
    const straight = await run(request(scale, `${scale}-straight`));
    expect(straight.steps).toHaveLength(8);
    expect(straight.result).toMatchObject({ stopped: false, steps: 8 });
    // Rewards vary over the run, so equal trajectories are not equal by accident.
    expect(new Set(straight.steps.map((e) => e.extra!.rewardMean)).size).toBeGreaterThan(1);

    const first = await run(request(scale, `${scale}-first`), 2);
    expect(first.result).toMatchObject({ stopped: true, steps: 2 });
    const checkpoint = path.join(tmp, `${scale}-first`, 'checkpoint-2');
    expect(first.result.finalCheckpoint).toBe(checkpoint);

    const rest = await run(request(scale, `${scale}-resumed`, { resumeFrom: checkpoint }));
    expect(rest.result).toMatchObject({ stopped: false, steps: 8 });
    expectClose(trajectory([...first.steps, ...rest.steps]), trajectory(straight.steps));
    const final = (dir: string) =>
      JSON.parse(fs.readFileSync(path.join(tmp, dir, 'trainer_state.json'), 'utf8')).logHistory;
    expect(final(`${scale}-resumed`)).toEqual(final(`${scale}-straight`));
  });
});

test('a checkpoint of another run configuration is refused', async () => {
  const first = await run(request('lora', 'refused-first'), 2);
  const resumeFrom = first.result.finalCheckpoint;
  const attempt = (req: TrainingRequest) => run(req).then(() => 'resumed');
  await expect(attempt(request('lora', 'r1', { resumeFrom, hp: { temperature: 0.7 } }))).rejects.toThrow(
    /hyperparameters differ from the checkpoint's: temperature/,
  );
  await expect(
    attempt(request('lora', 'r2', { resumeFrom, rows: [{ prompt: 'Q:' }, { prompt: 'other' }] })),
  ).rejects.toThrow(/it was trained on other data/);
  await expect(attempt(request('full', 'r3', { resumeFrom }))).rejects.toThrow(
    /it was trained with rl\/lora, not rl\/full/,
  );
});
