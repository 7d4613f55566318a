/**
 * The alignment methods as entries of the training-method registry (../methods.ts):
 * - REWARD_MODEL: preference pairs, a score head on the model (withScoreHead), full or LoRA + head;
 * - DPO: preference pairs with the frozen reference's log-probabilities computed once before training;
 * - RL: prompts; steps come from sampling the policy, so it brings its own driver (rl/sampling-driver.ts).
 */
import { loadModel } from '../../models/model';
import { METHODS } from '../../vocabulary';
import { PreferenceRow, PromptOnlyRow, tokenizePreferenceRows, tokenizePromptRows } from '../../data';
import { CollateOptions, collatePreference } from '../batches';
import { PreferenceExample, PromptExample } from '../../data/examples';
import type { TrainingMethod } from '../methods';
import { Batch } from '../objective';
import { DpoExample, DpoObjective, collateDpo, withReferenceLogProbs } from './dpo';
import { RewardModelObjective, rewardParameterization } from './reward-model';
import { RlObjective } from './rl/rl-objective';
import { SAMPLING_ITERATIONS } from './rl/sampling-driver';
import { withScoreHead } from './score-head';

export const rewardModelMethod: TrainingMethod<PreferenceExample> = {
  name: 'reward_model',
  datasetKind: METHODS.REWARD_MODEL.datasetKind,
  // The rows were parsed as a PREFERENCE dataset (datasetKind).
  tokenize: (rows, tok, o) => tokenizePreferenceRows(rows as readonly PreferenceRow[], tok, o),
  collate: collatePreference,
  // A head read from an adapter folder (LoRA resume) replaces the fresh one, so none is drawn then.
  parameterize: (m, o) =>
    rewardParameterization(withScoreHead(m, o.adapterDir ? () => 0.5 : () => o.rng.next()), o),
  objective: ({ params }) => new RewardModelObjective(params.forward, params.initial),
};

export const dpoMethod: TrainingMethod<DpoExample> = {
  name: 'dpo',
  datasetKind: METHODS.DPO.datasetKind,
  // Reference log-probabilities are NaN until prepare() computes them; collateDpo refuses NaN.
  tokenize: (rows, tok, o) => {
    const t = tokenizePreferenceRows(rows as readonly PreferenceRow[], tok, o);
    return { ...t, examples: t.examples.map((e) => ({ ...e, refChosen: NaN, refRejected: NaN })) };
  },
  prepare: async (examples, ctx) =>
    withReferenceLogProbs(await loadModel(ctx.baseModelPath), examples, {
      batchSize: ctx.hyperparameters.batchSize,
      bucket: ctx.hyperparameters.sequenceBucket,
      // Padded as the steps are (collated-driver.ts), so no longer than the length their layout was fitted to.
      maxLength: ctx.maxLength,
      executionProvider: ctx.executionProvider,
      threads: ctx.threads,
      memoryLayout: ctx.memoryLayout,
      floatWeights: ctx.floatWeights,
    }),
  collate: collateDpo,
  objective: ({ params, hyperparameters }) =>
    new DpoObjective(params.forward, params.initial, hyperparameters.beta),
};

export const rlMethod: TrainingMethod<PromptExample> = {
  name: 'rl',
  datasetKind: METHODS.RL.datasetKind,
  tokenize: (rows, tok, o) => tokenizePromptRows(rows as readonly PromptOnlyRow[], tok, o),
  collate: (_examples: PromptExample[], _o: CollateOptions): Batch => {
    throw new Error(
      'rl: training batches come from sampling the policy (rl/sampling-driver.ts), not from collated rows',
    );
  },
  objective: ({ params, hyperparameters }) =>
    new RlObjective(params.forward, params.initial, {
      clipEpsilon: hyperparameters.clipEpsilon,
      klCoef: hyperparameters.klCoef,
    }),
  driver: SAMPLING_ITERATIONS,
};
