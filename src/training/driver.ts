/**
 * What a kind of method plugs into the run skeleton (run.ts): the run is prepared the same way for every method
 * (prepare.ts), then the method's driver turns the prepared run into units of work for the one loop (loop.ts) and
 * says how the model is measured on validation rows. Two drivers exist: collated batches (collated-driver.ts: SFT,
 * REWARD_MODEL, DPO) and sampling iterations (alignment/rl/sampling-driver.ts: RL).
 */
import type { Hyperparameters } from './hyperparameters';
import type { StepSource } from './loop';
import type { PreparedRun } from './prepare';

/** A measure of the model as trained so far on the validation examples (eval_loss, eval_reward_mean). */
export interface Validator {
  measure(): Promise<Record<string, number>>;
  release(): Promise<void>;
}

/** A started driver: the loop's units of work, and the measure on validation examples. */
export interface DriverRun {
  steps: StepSource;
  /** `examples`: the validation rows, tokenized as the training rows are. */
  validator(examples: unknown[]): Promise<Validator>;
  release(): Promise<void>;
}

export interface Driver {
  /** The length examples are tokenized to, of maxSequenceLength (RL: what a prompt leaves its completion). */
  exampleLength?(maxSequenceLength: number, hp: Hyperparameters): number;
  /**
   * The base model stays the run's model (RL: it is the reference policy), so a full-update checkpoint gives only
   * the trained values; otherwise such a checkpoint is itself the model to go on from.
   */
  keepsBaseModel?: true;
  start(run: PreparedRun): Promise<DriverRun>;
}
