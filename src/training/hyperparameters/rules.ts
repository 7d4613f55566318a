/**
 * The rules that tie hyperparameters to each other, to the model and to the data: the only place they are
 * written. The resolver applies those whose facts the caller knows (the API knows the model and the dataset's
 * counts; the run knows its validation rows), and the specification query lists them in words.
 */
import { heldOutCount } from '../../data/split';
import type { SpecContext } from './field';

/** Facts about the data that some rules need, where the caller knows them. */
export interface RuleFacts {
  /** The validation rows a run would have for a given validationSplitRatio. */
  validationRowsFor?: (validationSplitRatio: number) => number;
}

/** A dataset's counts as validation facts: its own validation split plus what the ratio holds out. */
export function datasetFacts(d: { trainRowCount: number; validationRowCount: number }): RuleFacts {
  return { validationRowsFor: (ratio) => d.validationRowCount + heldOutCount(d.trainRowCount, ratio) };
}

type Values = Readonly<Record<string, unknown>>;

export interface HyperparameterRule {
  fields: readonly string[];
  description: string;
  /** The field to blame and why, or null when the rule holds (or its facts are unknown). */
  check(
    hp: Values,
    ctx: SpecContext & RuleFacts,
    given: ReadonlySet<string>,
  ): { field: string; message: string } | null;
}

export const HYPERPARAMETER_RULES: readonly HyperparameterRule[] = [
  {
    fields: ['maxSequenceLength', 'numVirtualTokens'],
    description:
      "maxSequenceLength, plus numVirtualTokens for PROMPT_TUNING, is at most the base model's maximum sequence length.",
    check(hp, ctx, given) {
      const limit = ctx.modelMaxSequenceLength;
      const length = hp.maxSequenceLength as number | null;
      if (limit === undefined || length === null) return null;
      const virtual = ctx.parameterScale === 'PROMPT_TUNING' ? (hp.numVirtualTokens as number) : 0;
      if (length + virtual <= limit && length >= 2) return null;
      const field = given.has('maxSequenceLength') || !virtual ? 'maxSequenceLength' : 'numVirtualTokens';
      const what = virtual
        ? `maxSequenceLength ${length} + numVirtualTokens ${virtual}`
        : `maxSequenceLength ${length}`;
      return { field, message: `${what} exceeds the base model's maximum sequence length ${limit}` };
    },
  },
  {
    fields: ['maxNewTokens', 'maxSequenceLength'],
    description: 'RL: maxNewTokens is below maxSequenceLength, so the prompt keeps at least one token.',
    check(hp, ctx) {
      const length = hp.maxSequenceLength as number | null;
      if (ctx.method !== 'RL' || length === null || (hp.maxNewTokens as number) < length) return null;
      return {
        field: 'maxNewTokens',
        message: `maxNewTokens ${hp.maxNewTokens} leaves no room for a prompt within maxSequenceLength ${length}`,
      };
    },
  },
  {
    fields: ['evalMaxNewTokens', 'evalMetricsAtEpochEnd', 'numVirtualTokens'],
    description:
      "evalMetricsAtEpochEnd: evalMaxNewTokens, plus numVirtualTokens for PROMPT_TUNING, is below the base model's maximum sequence length, so a validation prompt keeps at least one token.",
    check(hp, ctx) {
      const limit = ctx.modelMaxSequenceLength;
      if (hp.evalMetricsAtEpochEnd !== true || limit === undefined) return null;
      const virtual = ctx.parameterScale === 'PROMPT_TUNING' ? (hp.numVirtualTokens as number) : 0;
      if ((hp.evalMaxNewTokens as number) + virtual < limit) return null;
      return {
        field: 'evalMaxNewTokens',
        message: `evalMaxNewTokens ${hp.evalMaxNewTokens}${virtual ? ` + numVirtualTokens ${virtual}` : ''} leaves no room for a validation prompt within the base model's maximum sequence length ${limit}`,
      };
    },
  },
  {
    fields: ['evalEverySteps', 'evalMetricsAtEpochEnd', 'validationSplitRatio'],
    description:
      "evalEverySteps and evalMetricsAtEpochEnd need validation rows: the dataset's validation split or rows held out by validationSplitRatio.",
    check(hp, ctx) {
      const wanted = (hp.evalEverySteps as number) > 0 || hp.evalMetricsAtEpochEnd === true;
      if (!wanted || !ctx.validationRowsFor) return null;
      if (ctx.validationRowsFor(hp.validationSplitRatio as number) > 0) return null;
      return {
        field: 'validationSplitRatio',
        message:
          'evalEverySteps and evalMetricsAtEpochEnd need validation rows: set validationSplitRatio, or train on a dataset with a validation split',
      };
    },
  },
];
