/**
 * The alignment methods through the worker's entry point (runTrainingJob): a REWARD_MODEL job (LoRA + head), an
 * RL job scored by it (with validation on held-out prompts too), and a DPO job, each streaming its method's metrics
 * and ending with its artifact; RL without a usable reward model is refused with a clear error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../../src/errors';
import { writeDemoModel } from '../../../../src/models/demo';
import { StepEvent, TrainingRunSpec, runTrainingJob } from '../../../../src/training/run-job';
import { tokenizePromptRows } from '../../../../src/data';
import { Generator } from '../../../../src/models/generate';
import { loadModel } from '../../../../src/models/model';
import { loadRewardModel } from '../../../../src/training/alignment/reward-checkpoint';
import { RewardScorer } from '../../../../src/training/alignment/reward-scorer';
import { rewardModelRewards } from '../../../../src/training/alignment/rl/rewards';

jest.setTimeout(60_000);

let dir: string;
let model: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-align-'));
  model = path.join(dir, 'base');
  writeDemoModel(model, {
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 2,
    numKeyValueHeads: 1,
    intermediateSize: 64,
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const preference = [
  { prompt: 'Sky?', chosen: ' Blue.', rejected: ' I do not know.' },
  { prompt: '2+2?', chosen: ' 4.', rejected: ' I do not know.' },
  { prompt: 'Opposite of up?', chosen: ' Down.', rejected: ' I do not know.' },
  { messages: [{ role: 'user', content: 'Hi' }], chosen: 'Hello!', rejected: 'I do not know.' },
];

async function run(spec: Partial<TrainingRunSpec> & Pick<TrainingRunSpec, 'method' | 'dataset'>) {
  const steps: StepEvent[] = [];
  const checkpoints: { step: number; path: string; metrics: Record<string, number> }[] = [];
  const result = await runTrainingJob(
    {
      jobId: spec.method,
      parameterScale: 'FULL',
      modelPath: model,
      hyperparameters: {},
      outputDir: path.join(dir, spec.method),
      executionProvider: 'cpu',
      ...spec,
    },
    {
      onStep: (e) => void steps.push(e),
      onCheckpoint: (c) => void checkpoints.push(c),
      shouldStop: () => false,
    },
  );
  return { steps, checkpoints, result };
}

let rewardModel: string;

test('REWARD_MODEL (LoRA + head): accuracy and margin per step, a PEFT SEQ_CLS adapter at the end', async () => {
  const { steps, checkpoints, result } = await run({
    method: 'REWARD_MODEL',
    parameterScale: 'LORA',
    dataset: { kind: 'PREFERENCE', rows: preference },
    hyperparameters: { epochs: 4, batchSize: 2, learningRate: 0.01 },
  });
  expect(steps).toHaveLength(8);
  steps.forEach((s) => expect(Object.keys(s.extra ?? {}).sort()).toEqual(['accuracy', 'margin']));
  expect(steps[7].loss).toBeLessThan(steps[0].loss);
  expect(checkpoints[checkpoints.length - 1]).toMatchObject({ step: 8, path: result.finalCheckpoint });
  const cfg = JSON.parse(fs.readFileSync(path.join(result.finalCheckpoint, 'adapter_config.json'), 'utf8'));
  expect(cfg).toMatchObject({ task_type: 'SEQ_CLS', base_model_name_or_path: model });
  rewardModel = result.finalCheckpoint;
});

test('RL scored by that reward model: reward, KL, clip fraction and completion length per step', async () => {
  const { steps, result } = await run({
    method: 'RL',
    dataset: { kind: 'PROMPT_ONLY', rows: [{ prompt: 'Sky?' }, { prompt: 'Up?' }, { prompt: '2+2?' }] },
    hyperparameters: {
      epochs: 1,
      batchSize: 2,
      learningRate: 1e-3,
      numGenerations: 3,
      maxNewTokens: 4,
      rlEpochs: 2,
    },
    rewardModelPath: rewardModel,
  });
  // 2 iterations (2 + 1 prompts) x 2 inner epochs
  expect(steps.map((s) => [s.epoch, s.step, s.totalSteps])).toEqual([
    [1, 1, 4],
    [1, 2, 4],
    [1, 3, 4],
    [1, 4, 4],
  ]);
  for (const s of steps) {
    expect(Object.keys(s.extra ?? {}).sort()).toEqual([
      'clipFraction',
      'completionLength',
      'kl',
      'rewardMean',
      'rewardStd',
    ]);
    expect(s.extra!.completionLength).toBeGreaterThan(0);
    expect(s.extra!.completionLength).toBeLessThanOrEqual(4);
  }
  expect(steps[0].extra!.kl).toBeLessThan(1e-6); // the first step's policy is the reference
  expect(fs.existsSync(path.join(result.finalCheckpoint, 'model.safetensors'))).toBe(true);
});

test('RL with evalEverySteps: the mean reward of greedy completions of the validation prompts', async () => {
  const held = [{ prompt: 'Cat?' }, { prompt: 'Dog?' }, { prompt: 'Sun?' }];
  const rl = (evalEverySteps: number, validationRows = held) =>
    run({
      method: 'RL',
      dataset: {
        kind: 'PROMPT_ONLY',
        rows: [{ prompt: 'Sky?' }, { prompt: 'Up?' }, { prompt: '2+2?' }],
        validationRows,
      },
      hyperparameters: {
        epochs: 2,
        batchSize: 2,
        learningRate: 1e-2,
        numGenerations: 2,
        maxNewTokens: 4,
        rlEpochs: 2,
        evalEverySteps,
      },
      rewardModelPath: rewardModel,
      outputDir: path.join(dir, `rl-eval-${evalEverySteps}`),
    });
  const measuredAt = (steps: StepEvent[]) =>
    steps.filter((s) => s.extra?.eval_reward_mean !== undefined).map((s) => s.step);
  // 4 iterations of 2 steps: an iteration is measured after its last step when it reaches a multiple.
  const everyTwo = await rl(2);
  expect(measuredAt(everyTwo.steps)).toEqual([2, 4, 6, 8]);
  const everyThree = await rl(3);
  expect(measuredAt(everyThree.steps)).toEqual([4, 6]);
  // Measuring draws nothing from the run's RNG: the trajectories agree.
  const trajectory = ({ steps }: { steps: StepEvent[] }) =>
    steps.map((s) => [s.loss, s.gradNorm, s.extra!.rewardMean, s.extra!.kl]);
  expect(trajectory(everyThree)).toEqual(trajectory(everyTwo));

  // The last measure is that of the final policy, recomputed here from its checkpoint; the measures move as the
  // policy does, so an earlier policy's would not agree.
  const measures = everyTwo.steps.flatMap((s) => s.extra?.eval_reward_mean ?? []);
  expect(new Set(measures).size).toBe(4);
  const policy = await loadModel(everyTwo.result.finalCheckpoint);
  const tokenized = tokenizePromptRows(held, policy.tokenizer, { maxSequenceLength: 1024 });
  const prompts = tokenized.examples.map((e) => e.promptIds);
  const generator = new Generator(policy, { executionProvider: 'cpu' });
  const { generated } = await generator.generate({ prompts, maxNewTokens: 4 });
  await generator.release();
  const scorer = new RewardScorer(await loadRewardModel(rewardModel));
  const reward = rewardModelRewards(scorer, policy.tokenizer);
  const rewards = await reward(prompts.map((prompt, i) => ({ prompt, completion: generated[i] })));
  await scorer.release();
  const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
  expect(everyTwo.steps[7].extra!.eval_reward_mean).toBeCloseTo(mean, 6);
  expect(everyTwo.checkpoints[everyTwo.checkpoints.length - 1].metrics.eval_reward_mean).toBe(
    everyTwo.steps[7].extra!.eval_reward_mean,
  );

  await expect(rl(2, [])).rejects.toMatchObject({ path: ['hyperparameters', 'validationSplitRatio'] });
});

test('DPO: implicit rewards, accuracy and margin per step; starts at log 2', async () => {
  const { steps } = await run({
    method: 'DPO',
    dataset: { kind: 'PREFERENCE', rows: preference },
    hyperparameters: { epochs: 2, batchSize: 4, learningRate: 0.01 },
  });
  expect(Math.abs(steps[0].loss - Math.log(2))).toBeLessThan(1e-5);
  expect(Object.keys(steps[0].extra ?? {}).sort()).toEqual([
    'accuracy',
    'margin',
    'rewardsChosen',
    'rewardsRejected',
  ]);
});

test('RL with prompt tuning: the reference is the base without the virtual tokens', async () => {
  const { steps, result } = await run({
    method: 'RL',
    parameterScale: 'PROMPT_TUNING',
    dataset: { kind: 'PROMPT_ONLY', rows: [{ prompt: 'Sky?' }, { prompt: 'Up?' }] },
    hyperparameters: { epochs: 1, batchSize: 2, numGenerations: 2, maxNewTokens: 3, numVirtualTokens: 4 },
    rewardModelPath: rewardModel,
  });
  expect(steps).toHaveLength(2);
  // random virtual tokens move the policy away from the base from the start
  expect(steps[0].extra!.kl).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(result.finalCheckpoint, 'adapter_config.json'))).toBe(true);
});

test('RL without a reward model, or with a model that has no score head, is refused', async () => {
  const rl = { method: 'RL' as const, dataset: { kind: 'PROMPT_ONLY' as const, rows: [{ prompt: 'Sky?' }] } };
  await expect(run(rl)).rejects.toThrow(UserInputError);
  await expect(run({ ...rl, rewardModelPath: model })).rejects.toThrow(/not a reward model/);
});
