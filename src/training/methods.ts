/**
 * Training methods: how a method turns dataset rows into examples and micro-batches, and which Objective it
 * optimises. The run (run.ts) is the same for all of them; a new method (reward model, DPO, RL) is one entry in
 * TRAINING_METHODS, never a second loop: a method whose steps are not made of its rows brings a driver.
 */
import { LoadedModel } from '../models/model';
import { TextTokenizer } from '../models/tokenizer';
import { DatasetKind, DatasetRow, SftRow, tokenizeSftRows } from '../data';
import { CollateOptions, collateSft } from './batches';
import { SftExample, TokenizeOptions, Tokenized } from '../data/examples';
import { Hyperparameters } from './hyperparameters';
import { Batch, Objective } from './objective';
import { ExecutionProvider } from '../engine/session';
import type { BesideTrainingOptions } from './beside-training';
import { Parameterization, ParameterizeOptions } from './parameterization';
import type { Driver } from './driver';
import { dpoMethod, rewardModelMethod, rlMethod } from './alignment/methods';
import { SftObjective } from './sft';

import { METHODS, METHOD_NAMES, type EngineName, type MethodName, engineName } from '../vocabulary';

export type { MethodName };

export interface MethodContext {
  model: LoadedModel;
  /** What is trained (full, LoRA, prompt tuning) and its forward pass. */
  params: Parameterization;
  hyperparameters: Hyperparameters;
}

/**
 * What a method's `prepare` may use: the untrained base model, the run's device, and the steps' layout and float32
 * weights for its forward passes (DPO's reference: beside-training.ts).
 */
export interface PrepareContext extends BesideTrainingOptions {
  baseModelPath: string;
  /** The steps' longest padded row (run.maxLength): rows padded as the steps' are keep the shapes they fit. */
  maxLength: number;
  hyperparameters: Hyperparameters;
  executionProvider: ExecutionProvider;
}

export interface TrainingMethod<E = unknown> {
  /** Lower-case name, as configs and checkpoints spell it ('sft'). */
  readonly name: EngineName<MethodName>;
  readonly datasetKind: DatasetKind;
  tokenize(rows: readonly DatasetRow[], tok: TextTokenizer, o: TokenizeOptions): Tokenized<E>;
  collate(examples: E[], o: CollateOptions): Batch;
  objective(ctx: MethodContext): Objective;
  /** Replaces the default parameterization (the reward model adds and trains a score head). */
  parameterize?(model: LoadedModel, o: ParameterizeOptions): Parameterization;
  /** Work on the examples before training (DPO's reference log-probabilities, computed once). */
  prepare?(examples: E[], ctx: PrepareContext): Promise<E[]>;
  /** How its steps are made: from collated rows (the default), or by sampling the policy (RL). */
  driver?: Driver;
}

/**
 * A method with its example type erased, for the registry: the run only passes a method's own examples back to
 * it (tokenize -> collate), so the erasure is safe.
 */
export function defineMethod<E>(method: TrainingMethod<E>): TrainingMethod {
  return method as unknown as TrainingMethod;
}

export const sftMethod = defineMethod<SftExample>({
  name: 'sft',
  datasetKind: METHODS.SFT.datasetKind,
  // The rows were parsed as an SFT dataset (datasetKind).
  tokenize: (rows, tok, o) => tokenizeSftRows(rows as readonly SftRow[], tok, o),
  collate: collateSft,
  objective: ({ params }) => new SftObjective(params.forward, params.initial),
});

/** Every method of the vocabulary (src/vocabulary.ts), by its API name. */
export const TRAINING_METHODS: Record<MethodName, TrainingMethod> = {
  SFT: sftMethod,
  REWARD_MODEL: defineMethod(rewardModelMethod),
  DPO: defineMethod(dpoMethod),
  RL: defineMethod(rlMethod),
};

/** A method by its API or config name (SFT, sft). */
export function findMethod(name: string): TrainingMethod | undefined {
  const found = METHOD_NAMES.find((m) => m === name.toUpperCase());
  return found && TRAINING_METHODS[found];
}

/** The names configs and checkpoints use ('sft', 'reward_model', ...). */
export const CONFIG_METHOD_NAMES = METHOD_NAMES.map(engineName);
