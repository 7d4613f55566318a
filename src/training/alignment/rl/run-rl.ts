/**
 * An RL training run: epochs over the prompts in batches of `batchSize` prompts; each batch is one RL iteration
 * (sample numGenerations completions per prompt, score them, rlEpochs optimizer steps; rl-trainer.ts). Unlike
 * the other methods, a step's data comes from sampling the policy as it is at that step, so RL drives its own
 * iterations over the same Trainer; every optimizer step still reports one StepEvent (loss, gradient norm,
 * learning rate from the schedule over all optimizer steps, and the extras kl, clipFraction, rewardMean,
 * rewardStd, completionLength) and checkpoints have the layout of the other methods' (artifact,
 * optimizer.safetensors, trainer_state.json).
 *
 * Resuming reuses the other methods' machinery (run.ts): the same checks against the saved run, Adam moments and
 * step from the checkpoint, the shared RNG's state (it draws the prompt shuffles and every iteration's sampling
 * seed) and the loop position (epoch, prompts of it done, its prompt order), so a resumed run samples and
 * updates exactly as the straight run would have. The reference stays the starting policy: a full update loads
 * the base model and takes only its trained values from the checkpoint.
 */
import * as path from 'node:path';
import { UserInputError } from '../../../errors';
import { checkSequenceLength } from '../../../models/config';
import { loadModel } from '../../../models/model';
import { LogEntry, readTrainerState } from '../../checkpoint';
import { PromptExample } from '../../../data/examples';
import { LoopPosition, START } from '../../loop';
import { ProgressMeter } from '../../progress';
import { Rng } from '../../../util/rng';
import {
  checkResumable,
  fingerprint,
  optimizerOptions,
  planJobMemory,
  restoreState,
  saveRunCheckpoint,
} from '../../run';
import type { RunHooks, RunResult, TrainingRequest } from '../../run';
import { learningRate, warmupStepsFromRatio } from '../../schedules';
import { Hyperparameters, checkHyperparameterRules } from '../../hyperparameters';
import { Parameterization, ParameterizeOptions, parameterize } from '../../parameterization';
import { TrainState } from '../../train-state';
import { loadRewardModel } from '../reward-checkpoint';
import { RewardScorer } from '../reward-scorer';
import { RlSettings, RlTrainer } from './rl-trainer';
import { rewardModelRewards } from './rewards';

export function rlSettings(hp: Hyperparameters): RlSettings {
  return {
    numGenerations: hp.numGenerations,
    maxNewTokens: hp.maxNewTokens,
    temperature: hp.temperature,
    topP: hp.topP,
    rlEpochs: hp.rlEpochs,
    microBatches: hp.gradientAccumulationSteps,
  };
}

export async function runRl(req: TrainingRequest, hooks: RunHooks): Promise<RunResult> {
  const hp = req.hyperparameters;
  const saved = req.resumeFrom ? readTrainerState(req.resumeFrom) : null;
  if (!req.rewardModelPath) {
    throw new UserInputError('RL needs a reward model (rewardModelJobId)', ['rewardModelJobId']);
  }
  const model = await loadModel(req.modelPath);
  const maxLength = hp.maxSequenceLength ?? Math.min(1024, model.config.maxPositionEmbeddings);
  checkSequenceLength(model.config, maxLength, 'hyperparameters.maxSequenceLength');
  checkHyperparameterRules({ ...hp, maxSequenceLength: maxLength }, { method: 'RL' });
  // A prompt may take what the completion leaves of maxSequenceLength.
  const tokenized = req.method.tokenize(req.rows, model.tokenizer, {
    maxSequenceLength: maxLength - hp.maxNewTokens + 1,
    template: req.template,
  });
  const prompts = (tokenized.examples as PromptExample[]).map((e) => e.promptIds);
  if (prompts.length === 0) {
    const why = tokenized.skipped[0]
      ? ` (row ${tokenized.skipped[0].row + 1}: ${tokenized.skipped[0].reason})`
      : '';
    throw new UserInputError(`the dataset has no usable prompt${why}`, ['dataset']);
  }

  const dataPrint = fingerprint(tokenized.examples);
  if (saved) checkResumable(saved, req, dataPrint, prompts.length);
  const memory = planJobMemory(model, req);

  const rng = saved ? Rng.fromState(saved.rng) : Rng.fromSeed(hp.seed);
  const options = (adapterDir: string | null): ParameterizeOptions => ({
    scale: req.parameterScale,
    hyperparameters: hp,
    adapterDir,
    rng,
  });
  // An adapter checkpoint is the adapter to go on training; the base (the reference) is untouched.
  const params = parameterize(
    model,
    options((req.parameterScale !== 'full' && req.resumeFrom) || req.initAdapter),
  );
  const state = saved
    ? restoreState(saved, await trainedValues(req.resumeFrom!, params, options), req.resumeFrom!)
    : TrainState.initial(params.initial);
  const device = { executionProvider: req.executionProvider, threads: req.threads ?? undefined };
  const scorer = new RewardScorer(await loadRewardModel(req.rewardModelPath), device);
  const rl = new RlTrainer(
    model,
    params,
    req.method.objective({ model, params, hyperparameters: hp }),
    rewardModelRewards(scorer, model.tokenizer),
    rlSettings(hp),
    {
      ...optimizerOptions(hp),
      memoryLayout: memory.layout,
      random: () => rng.next(),
      ...device,
    },
    state,
  );

  const iterationsPerEpoch = Math.ceil(prompts.length / hp.batchSize);
  const iterations = Math.ceil(hp.epochs * iterationsPerEpoch);
  const totalSteps = iterations * hp.rlEpochs;
  const schedule = {
    baseLr: hp.learningRate,
    warmupSteps: warmupStepsFromRatio(hp.warmupRatio, totalSteps),
    totalSteps,
  };
  const meter = new ProgressMeter(totalSteps);
  const logHistory: LogEntry[] = saved ? [...saved.logHistory] : [];
  let extra: Record<string, number> = {};
  let position: LoopPosition = saved ? saved.position : START;
  const resumedAt = position.epoch * iterationsPerEpoch + position.microBatch;
  if (resumedAt * hp.rlEpochs !== rl.state.step) {
    throw new UserInputError(
      `resumeFrom ${req.resumeFrom}: its step ${rl.state.step} is not ${hp.rlEpochs} steps per iteration before iteration ${resumedAt + 1}`,
      ['resumeFrom'],
      'BAD_CHECKPOINT',
    );
  }
  let finalCheckpoint = req.resumeFrom ?? req.output;
  let stopped = false;
  hooks.onStart?.({
    totalSteps,
    examples: prompts.length,
    skipped: tokenized.skipped.length,
    truncated: tokenized.truncated,
    resumedAt: rl.state.step,
  });

  const checkpoint = async (reason: 'interval' | 'final' | 'stop') => {
    const state = rl.state;
    const dir = reason === 'final' ? req.output : path.join(req.output, `checkpoint-${state.step}`);
    await saveRunCheckpoint(dir, {
      req,
      params,
      state,
      totalSteps,
      position,
      rng,
      data: { examples: prompts.length, fingerprint: dataPrint },
      hyperparameters: hp,
      logHistory,
    });
    finalCheckpoint = dir;
    stopped = reason === 'stop';
    const last = logHistory[logHistory.length - 1];
    await hooks.onCheckpoint({
      step: state.step,
      path: dir,
      metrics: last
        ? { loss: last.loss, gradNorm: last.gradNorm, learningRate: last.learningRate, ...extra }
        : {},
    });
  };

  try {
    for (let i = resumedAt; i < iterations; i++) {
      const epoch = Math.floor(i / iterationsPerEpoch);
      const inEpoch = i % iterationsPerEpoch;
      const order =
        inEpoch === 0 || !position.order
          ? hp.shuffle
            ? rng.permutation(prompts.length)
            : [...prompts.keys()]
          : position.order;
      const batch = order.slice(inEpoch * hp.batchSize, (inEpoch + 1) * hp.batchSize).map((j) => prompts[j]);
      const lr = learningRate(hp.lrScheduler, rl.state.step, schedule);
      const before = rl.state.step;
      const it = await rl.iteration(batch, lr, rng.nextUint32());
      position =
        inEpoch + 1 === iterationsPerEpoch
          ? { epoch: epoch + 1, microBatch: 0, order: null }
          : { epoch, microBatch: inEpoch + 1, order };
      for (const [k, u] of it.updates.entries()) {
        extra = {
          ...u.metrics,
          rewardMean: it.rewardMean,
          rewardStd: it.rewardStd,
          completionLength: it.completionLength,
        };
        const event = meter.event({ ...u, epoch: epoch + 1, step: before + k + 1, learningRate: lr, extra });
        logHistory.push({
          step: event.step,
          epoch: event.epoch,
          loss: u.loss,
          gradNorm: u.gradNorm,
          learningRate: lr,
        });
        await hooks.onStep(event);
      }
      const every = hp.checkpointEverySteps;
      if (i + 1 === iterations) await checkpoint('final');
      else if (hooks.shouldStop()) {
        await checkpoint('stop');
        break;
      } else if (every > 0 && Math.floor(rl.state.step / every) > Math.floor(before / every)) {
        await checkpoint('interval');
      }
    }
  } finally {
    await rl.release();
    await scorer.release();
  }
  return { finalCheckpoint, stopped, steps: rl.state.step };
}

/**
 * A checkpoint's trainables as a parameterization's starting values: an adapter scale already started from the
 * checkpoint's adapter; a full update reads its trained weights from the checkpoint's model folder.
 */
async function trainedValues(
  dir: string,
  params: Parameterization,
  options: (adapterDir: string | null) => ParameterizeOptions,
): Promise<Parameterization> {
  if (params.adapter) return params;
  return parameterize(await loadModel(dir), options(null));
}
