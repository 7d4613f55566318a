/** The worker's entry point: a job spec in, step events and checkpoints out; stop requests; unavailable methods. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../src/errors';
import { readTrainerState } from '../../../src/training/checkpoint';
import { StepEvent, TrainingRunSpec, runTrainingJob } from '../../../src/training/run-job';
import { hfTiny } from '../../helpers/fixtures';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-job-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const spec = (over: Partial<TrainingRunSpec> = {}): TrainingRunSpec => ({
  jobId: 'job-1',
  method: 'SFT',
  parameterScale: 'PROMPT_TUNING',
  modelPath: hfTiny('llama-tiny'),
  dataset: {
    kind: 'SFT',
    rows: [
      { prompt: 'Colour of the sky?', response: ' Blue.' },
      [{ prompt: 'Two times four?', response: [[' Eight.']] }],
      { instruction: 'Opposite of up', output: 'Down' },
    ],
  },
  hyperparameters: { epochs: 2, batchSize: 2, learningRate: 0.01, numVirtualTokens: 4 },
  outputDir: dir,
  executionProvider: 'cpu',
  ...over,
});

test('an SFT job streams every step and checkpoint and ends with its final checkpoint', async () => {
  const steps: StepEvent[] = [];
  const checkpoints: { step: number; path: string; metrics: Record<string, number> }[] = [];
  const result = await runTrainingJob(spec({ checkpointEverySteps: 2 }), {
    onStep: (e) => void steps.push(e),
    onCheckpoint: (c) => void checkpoints.push(c),
    shouldStop: () => false,
  });
  expect(steps.map((s) => [s.epoch, s.step, s.totalSteps])).toEqual([
    [1, 1, 4],
    [1, 2, 4],
    [2, 3, 4],
    [2, 4, 4],
  ]);
  steps.forEach((s) => {
    expect(Number.isFinite(s.loss) && s.gradNorm > 0 && s.tokensPerSecond > 0 && s.elapsedSeconds > 0).toBe(
      true,
    );
  });
  expect(checkpoints.map((c) => [c.step, c.path])).toEqual([
    [2, path.join(dir, 'checkpoint-2')],
    [4, dir],
  ]);
  expect(checkpoints[1].metrics.loss).toBe(steps[3].loss);
  expect(result.finalCheckpoint).toBe(dir);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  expect(cfg).toMatchObject({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 4, token_dim: 64 });
});

test('a stop request ends the job after the current step with a resumable checkpoint', async () => {
  let steps = 0;
  const result = await runTrainingJob(spec(), {
    onStep: () => void steps++,
    onCheckpoint: () => undefined,
    shouldStop: () => steps >= 1,
  });
  expect(steps).toBe(1);
  expect(result.finalCheckpoint).toBe(path.join(dir, 'checkpoint-1'));
  expect(readTrainerState(result.finalCheckpoint)).toMatchObject({
    globalStep: 1,
    position: { epoch: 0, microBatch: 1 },
  });
});

test('a job that does not fit the memory budget fails before its first step, stating estimate and budget', async () => {
  process.env.WHETSTONE_MEMORY_BUDGET = '64MiB';
  const steps: StepEvent[] = [];
  try {
    const run = runTrainingJob(spec(), {
      onStep: (e) => void steps.push(e),
      onCheckpoint: () => undefined,
      shouldStop: () => false,
    });
    await expect(run).rejects.toThrow(UserInputError);
    await expect(run).rejects.toMatchObject({
      code: 'MEMORY_BUDGET_EXCEEDED',
      message: expect.stringMatching(/needs an estimated \d+\.\d GiB .* budget of 0\.1 GiB/),
    });
  } finally {
    delete process.env.WHETSTONE_MEMORY_BUDGET;
  }
  expect(steps).toEqual([]);
  expect(fs.readdirSync(dir)).toEqual([]);
});

// Refused before any session is made, so no GPU is needed to see it.
test('a GPU job that does not fit the device (WHETSTONE_GPU_MEMORY) fails before its first step, stating both', async () => {
  process.env.WHETSTONE_GPU_MEMORY = '64MiB';
  const steps: StepEvent[] = [];
  try {
    const run = runTrainingJob(spec({ executionProvider: 'webgpu' }), {
      onStep: (e) => void steps.push(e),
      onCheckpoint: () => undefined,
      shouldStop: () => false,
    });
    await expect(run).rejects.toMatchObject({
      code: 'MEMORY_BUDGET_EXCEEDED',
      message: expect.stringMatching(
        /needs an estimated \d+\.\d GiB .* than the device memory of WHETSTONE_GPU_MEMORY \(webgpu\) of 0\.1 GiB/,
      ),
    });
  } finally {
    delete process.env.WHETSTONE_GPU_MEMORY;
  }
  expect(steps).toEqual([]);
  expect(fs.readdirSync(dir)).toEqual([]);
});

test('mismatched datasets are refused clearly', async () => {
  const hooks = { onStep: () => undefined, onCheckpoint: () => undefined, shouldStop: () => false };
  await expect(runTrainingJob(spec({ method: 'DPO' }), hooks)).rejects.toThrow(
    /method DPO needs a dataset of kind PREFERENCE, got SFT/,
  );
  await expect(runTrainingJob(spec({ dataset: { kind: 'PREFERENCE', rows: [] } }), hooks)).rejects.toThrow(
    /needs a dataset of kind SFT, got PREFERENCE/,
  );
  await expect(
    runTrainingJob(spec({ dataset: { kind: 'SFT', rows: [{ prompt: 'x' }] } }), hooks),
  ).rejects.toThrow(UserInputError);
});

test('resuming on other data or with other hyperparameters is refused', async () => {
  let steps = 0;
  const hooks = {
    onStep: () => void steps++,
    onCheckpoint: () => undefined,
    shouldStop: () => steps >= 1,
  };
  const { finalCheckpoint } = await runTrainingJob(spec(), hooks);
  const resume = { resumeFrom: finalCheckpoint, outputDir: path.join(dir, 'resumed') };
  await expect(
    runTrainingJob(
      spec({ ...resume, hyperparameters: { ...spec().hyperparameters, learningRate: 0.02 } }),
      hooks,
    ),
  ).rejects.toThrow(/hyperparameters differ from the checkpoint's: learningRate/);
  await expect(
    runTrainingJob(
      spec({ ...resume, dataset: { kind: 'SFT', rows: [{ prompt: 'Other', response: ' data' }] } }),
      hooks,
    ),
  ).rejects.toThrow(/trained on other data/);
  await expect(runTrainingJob(spec({ ...resume, parameterScale: 'LORA' }), hooks)).rejects.toThrow(
    /trained with sft\/prompt_tuning, not sft\/lora/,
  );
});

test('a mixed-precision job saves its loss scale and resumes exactly where the straight run goes', async () => {
  const mixed = { hyperparameters: { ...spec().hyperparameters, mixedPrecision: true } };
  const collect = async (over: Partial<TrainingRunSpec>, stopAfter = Infinity) => {
    const events: StepEvent[] = [];
    const result = await runTrainingJob(spec({ ...mixed, ...over }), {
      onStep: (e) => void events.push(e),
      onCheckpoint: () => undefined,
      shouldStop: () => events.length >= stopAfter,
    });
    return { events, result };
  };
  const straight = await collect({ outputDir: path.join(dir, 'straight') });
  const first = await collect({ outputDir: path.join(dir, 'first') }, 1);
  const saved = readTrainerState(first.result.finalCheckpoint);
  expect(saved.lossScaler!.scale).toBeGreaterThan(0);
  const resumed = await collect({
    outputDir: path.join(dir, 'resumed'),
    resumeFrom: first.result.finalCheckpoint,
  });
  expect(resumed.events.map((e) => [e.step, e.loss, e.gradNorm])).toEqual(
    straight.events.slice(1).map((e) => [e.step, e.loss, e.gradNorm]),
  );
  // The growth tracker counts on across the resume (4 good steps), as GradScaler's state does.
  const end = (r: typeof straight) => readTrainerState(r.result.finalCheckpoint).lossScaler;
  expect(end(resumed)).toEqual(end(straight));
  expect(end(straight)!.growthTracker).toBe(4);
});
