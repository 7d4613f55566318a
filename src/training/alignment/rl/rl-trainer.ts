/**
 * One RL iteration (GRPO-style with PPO clipping) over a batch of prompts:
 * 1. generation: numGenerations completions per prompt sampled from the current policy with the KV-cache
 *    generator (temperature, top-p, at most maxNewTokens, stopping at EOS);
 * 2. rewards from the reward function, group-relative advantages per prompt;
 * 3. log-probabilities of the completion tokens under the sampling policy ("old") and the frozen reference, from
 *    one forward-only session of the policy fed the current values or the reference values;
 * 4. rlEpochs optimizer steps of the clipped-ratio objective on those samples (Trainer.step; several
 *    micro-batches accumulate gradients).
 * Log-probabilities are those of the untempered policy, the distribution the ratio and the KL are about.
 */
import { GenerateRequest, Generator, type HalfWeights } from '../../../models/generate';
import { Batch, HostTensor, Objective } from '../../objective';
import { TrainState } from '../../train-state';
import { StepResult, Trainer, TrainerOptions } from '../../trainer';
import { ScoredRow, TokenLogProbs, scoredBatch } from '../log-probs';
import type { PaddingOptions } from '../padding';
import { LoadedModel } from '../../../models/model';
import { Parameterization } from '../../parameterization';
import { trainedModel } from '../../validation';
import { ReferencePolicy, referencePolicy } from './reference';
import { groupAdvantages, rewardStats } from './advantages';
import { RL_BATCH } from './rl-objective';
import { RewardFunction, Sample } from './rewards';
import { rlPadding } from './rows';

/** The sampling and update schedule of RL; the loss itself (clip range, KL weight) is the objective's. */
export interface RlSettings {
  numGenerations: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  /** Optimizer steps taken on each batch of samples. */
  rlEpochs: number;
  /** Micro-batches the samples of a step are split into (gradient accumulation). */
  microBatches: number;
  /** The sampling Generator's handling of 16-bit weights (the memory plan's choice); default the Generator's. */
  halfWeights?: HalfWeights;
}

export interface RlTimings {
  /** Sampling, building the generator's sessions on this iteration's weights included. */
  generation: number;
  rewards: number;
  /** Log-probabilities under the sampling policy and under the reference. */
  oldLogProbs: number;
  referenceLogProbs: number;
  /** All rlEpochs optimizer steps. */
  update: number;
}

export interface RlIteration {
  /** One per inner epoch. */
  updates: StepResult[];
  rewardMean: number;
  rewardStd: number;
  /** Mean number of generated tokens. */
  completionLength: number;
  samples: Sample[];
  rewards: number[];
  /** Seconds spent in each phase. */
  timings: RlTimings;
}

const seconds = (since: number) => (performance.now() - since) / 1000;

export class RlTrainer {
  readonly trainer: Trainer;
  private readonly logProbs: TokenLogProbs;
  private readonly reference: ReferencePolicy;
  /** The reference's own scorer when it cannot run on the policy's forward (prompt tuning). */
  private readonly referenceLogProbs: TokenLogProbs;
  private readonly padding: PaddingOptions;

  constructor(
    /** The model as loaded and what is trained on it. */
    readonly model: LoadedModel,
    readonly params: Parameterization,
    /** The policy loss over sample batches (an RlObjective on the policy's forward). */
    objective: Objective,
    private readonly reward: RewardFunction,
    readonly settings: RlSettings,
    private readonly opts: TrainerOptions,
    state: TrainState = TrainState.initial(params.initial),
  ) {
    this.trainer = new Trainer(objective, state, opts);
    this.logProbs = new TokenLogProbs(params.forward, opts);
    this.reference = referencePolicy(params);
    this.referenceLogProbs = this.reference.sharesPolicyForward
      ? this.logProbs
      : new TokenLogProbs(this.reference.forward, opts);
    this.padding = rlPadding(model.config);
  }

  get state(): TrainState {
    return this.trainer.state;
  }

  /** Sample, score and update on `prompts` (token ids, BOS included); `seed` seeds the sampler. */
  async iteration(
    prompts: readonly (readonly number[])[],
    learningRate: number,
    seed: number,
  ): Promise<RlIteration> {
    const s = this.settings;
    let t0 = performance.now();
    const samples = await this.sample(prompts, seed);
    const generation = seconds(t0);

    t0 = performance.now();
    const rewards = await this.reward(samples);
    const advantages = groupAdvantages(rewards, s.numGenerations);

    const timings = { generation, rewards: seconds(t0), oldLogProbs: 0, referenceLogProbs: 0, update: 0 };
    const batches = await this.batches(samples, advantages, timings);

    t0 = performance.now();
    const updates: StepResult[] = [];
    for (let e = 0; e < s.rlEpochs; e++) updates.push(await this.trainer.step(batches, learningRate));
    timings.update = seconds(t0);

    const { mean, std } = rewardStats(rewards);
    return {
      updates,
      rewardMean: mean,
      rewardStd: std,
      completionLength: samples.reduce((n, x) => n + x.completion.length, 0) / samples.length,
      samples,
      rewards,
      timings,
    };
  }

  async release(): Promise<void> {
    await this.trainer.release();
    await this.logProbs.release();
    if (this.referenceLogProbs !== this.logProbs) await this.referenceLogProbs.release();
  }

  /** numGenerations completions of each prompt, grouped by prompt, from the policy as it is now. */
  private sample(prompts: readonly (readonly number[])[], seed: number): Promise<Sample[]> {
    const s = this.settings;
    const repeated = prompts.flatMap((p) => Array.from({ length: s.numGenerations }, () => p));
    return this.complete(repeated, { temperature: s.temperature, topP: s.topP, seed });
  }

  /**
   * The mean reward of the policy's greedy completion of each prompt (RL's validation measure), `chunk` prompts
   * at a time.
   */
  async greedyReward(prompts: readonly (readonly number[])[], chunk: number): Promise<number> {
    let sum = 0;
    for (let i = 0; i < prompts.length; i += chunk) {
      const rewards = await this.reward(await this.complete(prompts.slice(i, i + chunk)));
      sum += rewards.reduce((a, b) => a + b, 0);
    }
    return sum / prompts.length;
  }

  /** One completion of each prompt from the policy as it is now: sampled, or greedy without `sampling`. */
  private async complete(
    prompts: readonly (readonly number[])[],
    sampling?: GenerateRequest['sampling'],
  ): Promise<Sample[]> {
    // The generator bakes weights into its sessions, so it is built on a snapshot of the policy.
    const snapshot = trainedModel(this.model, this.params, await this.state.valuesToHost());
    const generator = new Generator(snapshot.model, {
      adapter: snapshot.adapter,
      executionProvider: this.opts.executionProvider,
      threads: this.opts.threads,
      ...(this.settings.halfWeights ? { halfWeights: this.settings.halfWeights } : {}),
    });
    try {
      const out = await generator.generate({ prompts, maxNewTokens: this.settings.maxNewTokens, sampling });
      return prompts.map((prompt, i) => ({ prompt, completion: out.generated[i] }));
    } finally {
      await generator.release();
    }
  }

  /** The samples as micro-batches with old and reference log-probabilities and advantages. */
  private async batches(
    samples: readonly Sample[],
    advantages: readonly number[],
    timings: RlTimings,
  ): Promise<Batch[]> {
    const current = new Map([...this.state.params].map(([name, p]) => [name, p.value]));
    const size = Math.ceil(samples.length / this.settings.microBatches);
    const out: Batch[] = [];
    for (let start = 0; start < samples.length; start += size) {
      const chunk = samples.slice(start, start + size);
      const rows: ScoredRow[] = chunk.map((x) => ({
        ids: [...x.prompt, ...x.completion],
        from: x.prompt.length,
      }));
      const scored = scoredBatch(rows, this.padding);
      let t0 = performance.now();
      const old = await this.logProbs.run(scored, current);
      timings.oldLogProbs += seconds(t0);
      t0 = performance.now();
      const ref = await this.referenceLogProbs.run(scored, this.reference.values);
      timings.referenceLogProbs += seconds(t0);
      const float = (data: Float32Array, shape: readonly number[]): HostTensor => ({
        data,
        shape,
        dtype: 'float32',
      });
      out.push({
        tensors: {
          ...scored.tensors,
          [RL_BATCH.oldLogps]: float(old.values, old.shape),
          [RL_BATCH.refLogps]: float(ref.values, ref.shape),
          [RL_BATCH.advantages]: float(Float32Array.from(advantages.slice(start, start + size)), [
            chunk.length,
          ]),
        },
        tokens: rows.reduce((n, r) => n + r.ids.length, 0),
        examples: chunk.length,
      });
    }
    return out;
  }
}
