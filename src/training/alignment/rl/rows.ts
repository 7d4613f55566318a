/**
 * The lengths of RL's rows, which the driver tokenizes prompts to and the trainer pads its scored rows to, and
 * which the memory plan (the API's at creation, the worker's before the first step) sizes the steps at.
 */
import type { ModelConfig } from '../../../models/config';
import type { Hyperparameters } from '../../hyperparameters';
import { PaddingOptions, scoredLength } from '../padding';

/** A prompt may take what the completion leaves of maxSequenceLength. */
export const promptLength = (maxLength: number, hp: Pick<Hyperparameters, 'maxNewTokens'>) =>
  maxLength - hp.maxNewTokens + 1;

/** How RL pads its scored rows (prompt + completion): the log-probabilities' and the update steps' (N, T). */
export const rlPadding = (
  c: Pick<ModelConfig, 'maxPositionEmbeddings'> & Partial<Pick<ModelConfig, 'padTokenId'>>,
): PaddingOptions => ({
  padTokenId: c.padTokenId ?? 0,
  maxLength: c.maxPositionEmbeddings,
});

/**
 * The widest text row (virtual tokens aside) RL's steps and log-probabilities run, of maxSequenceLength `maxLength`
 * on a model of `maxPositions`: the longest prompt and its longest completion, padded as scored.
 */
export const rlRowLength = (
  maxLength: number,
  hp: Pick<Hyperparameters, 'maxNewTokens'>,
  maxPositions: number,
): number =>
  scoredLength(
    promptLength(maxLength, hp) + hp.maxNewTokens,
    rlPadding({ maxPositionEmbeddings: maxPositions }),
  );
