/**
 * Evaluation during training, the same for every method. The validation set is the rows the request brings as such
 * (a dataset's validation split) plus a seeded `validationSplitRatio` of the training rows, held out before
 * anything is tokenized. Every `evalEverySteps` optimizer steps the run reports its driver's measure on it
 * (driver.ts: `eval_loss` for the methods trained on collated rows, `eval_reward_mean` for RL; a unit of several
 * steps, an RL iteration, is measured after its last step); with `evalMetricsAtEpochEnd`, at each epoch's end the model as
 * trained so far also answers the validation prompts (greedy, `evalMaxNewTokens`) and the six metrics of
 * metrics.md are reported as their means (`eval_accuracy`, `eval_f1`, `eval_rouge1_precision` ... `eval_bleu4`;
 * default segmenter and stop words). The numbers ride in the step's `extra` metrics, so they reach the progress
 * stream, the stored step metrics and the CLI's output like every other metric.
 */
import { ExecutionProvider } from '../engine/session';
import { UserInputError } from '../errors';
import { aggregate, flattenScores } from '../evaluation/metrics';
import { EvaluatedModel, evaluationItems, generateAndScore } from '../evaluation/run-evaluation';
import { Generator } from '../models/generate';
import { LoadedModel, MemoryWeights } from '../models/model';
import { DatasetRow, SftRow, splitTrainValidation } from '../data';
import { TokenizeOptions } from '../data/examples';
import type { Validator } from './driver';
import { Hyperparameters, checkHyperparameterRules } from './hyperparameters';
import { TrainingMethod } from './methods';
import { LoopValidation, crosses } from './loop';
import { HostTensor } from './objective';
import { Parameterization } from './parameterization';
import { TrainState } from './train-state';

/** The run's training rows and validation rows (given ones first, then the held-out ones in row order). */
export function splitRows(
  rows: readonly DatasetRow[],
  given: readonly DatasetRow[],
  ratio: number,
  seed: number,
): { train: DatasetRow[]; validation: DatasetRow[] } {
  const split = splitTrainValidation(rows.length, ratio, seed);
  return {
    train: split.train.map((i) => rows[i]),
    validation: [...given, ...split.validation.map((i) => rows[i])],
  };
}

/** The model with trained `values` frozen in: a full update's weights, or the adapter with its trained tensors. */
export function trainedModel(
  m: LoadedModel,
  params: Parameterization,
  values: ReadonlyMap<string, HostTensor>,
): EvaluatedModel {
  const weights = new MemoryWeights(
    [...values].map(([name, t]) => [name, { data: t.data as Float32Array, shape: t.shape }]),
  );
  // A full update's values are every weight its forward pass reads (initialParameters), so they stand alone.
  return params.adapter
    ? { model: m, adapter: { ...params.adapter, weights } }
    : { model: { ...m, weights } };
}

export interface ValidationRequest {
  method: TrainingMethod;
  rows: readonly DatasetRow[];
  model: LoadedModel;
  params: Parameterization;
  hyperparameters: Hyperparameters;
  maxSequenceLength: number;
  /** How the training rows were tokenized, so validation rows are too. */
  tokenize: TokenizeOptions;
  /** The driver's measure on the tokenized validation rows. */
  validator: (examples: unknown[]) => Promise<Validator>;
  stepsPerEpoch: number;
  totalSteps: number;
  executionProvider: ExecutionProvider;
  threads?: number;
}

const where = (field: keyof Hyperparameters) => ['hyperparameters', field];

export class Validation implements LoopValidation {
  private constructor(
    private readonly req: ValidationRequest,
    private readonly validator: Validator,
  ) {}

  /** The run's validation, or null when none is asked for; errors name what is missing. */
  static async create(req: ValidationRequest): Promise<Validation | null> {
    const hp = req.hyperparameters;
    const wanted = hp.evalEverySteps > 0 || hp.evalMetricsAtEpochEnd;
    if (!wanted) return null;
    checkHyperparameterRules(hp, { validationRowsFor: () => req.rows.length });
    if (hp.evalMetricsAtEpochEnd && req.method.datasetKind !== 'SFT') {
      throw new UserInputError(
        `evalMetricsAtEpochEnd scores answers against reference responses, which ${req.method.datasetKind} rows do not have`,
        where('evalMetricsAtEpochEnd'),
      );
    }
    const tokenized = req.method.tokenize(req.rows, req.model.tokenizer, req.tokenize);
    if (tokenized.examples.length === 0) {
      throw new UserInputError(
        `no validation row fits maxSequenceLength ${req.maxSequenceLength}`,
        where('maxSequenceLength'),
      );
    }
    return new Validation(req, await req.validator(tokenized.examples));
  }

  /** What to report after the steps from `from` to `state.step` (null when nothing is due). */
  async after(from: number, state: TrainState): Promise<Record<string, number> | null> {
    const hp = this.req.hyperparameters;
    const step = state.step;
    const epochEnd =
      hp.evalMetricsAtEpochEnd &&
      (crosses(from, step, this.req.stepsPerEpoch) || step === this.req.totalSteps);
    if (!epochEnd && !crosses(from, step, hp.evalEverySteps)) return null;
    const measured = await this.validator.measure();
    return epochEnd ? { ...measured, ...(await this.scores(state)) } : measured;
  }

  /** The six metrics' means over the validation rows, answered by the model as trained so far. */
  private async scores(state: TrainState): Promise<Record<string, number>> {
    const hp = this.req.hyperparameters;
    const trained = trainedModel(this.req.model, this.req.params, await state.valuesToHost());
    const { items } = evaluationItems(this.req.rows as readonly SftRow[], trained, hp.evalMaxNewTokens);
    if (items.length === 0) return {};
    // The trained values are baked into the generation graphs, so they are built (and released) per evaluation.
    // The training's sessions stay resident: 16-bit weights are cast at each use (the plan counts no float32 copy:
    // memory-plan.ts `lessTrainingGeneration`).
    const generator = new Generator(trained.model, {
      adapter: trained.adapter,
      executionProvider: this.req.executionProvider,
      threads: this.req.threads,
      halfWeights: 'cast',
    });
    try {
      const { samples } = await generateAndScore(generator, items, {
        generation: {
          maxNewTokens: hp.evalMaxNewTokens,
          temperature: 0,
          topP: 1,
          seed: 0,
          batchSize: hp.batchSize,
        },
        scoring: {},
      });
      const means = flattenScores(aggregate(samples.map((s) => s.scores)));
      return Object.fromEntries(Object.entries(means).map(([name, v]) => [`eval_${name}`, v]));
    } finally {
      await generator.release();
    }
  }

  release(): Promise<void> {
    return this.validator.release();
  }
}
