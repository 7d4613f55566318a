/**
 * The driver of methods that train on their rows (SFT, REWARD_MODEL, DPO): the method's `prepare` (DPO's
 * reference log-probabilities), micro-batches collated from the examples, one optimizer step a unit
 * (loop.ts's batchSteps), and the method's loss on the validation rows as its measure (eval_loss: forward passes
 * only, dropout off, the trained values fed as they are).
 */
import { Evaluator } from './alignment/evaluator';
import { exampleData, padTokenIdOf } from './batches';
import type { Driver } from './driver';
import { batchSteps } from './loop';
import { Batch } from './objective';
import type { PreparedRun } from './prepare';
import { Trainer } from './trainer';

export const COLLATED_BATCHES: Driver = {
  async start(run) {
    const { req } = run;
    const hp = req.hyperparameters;
    const padTokenId = padTokenIdOf(run.model.tokenizer);
    const collate = (batch: unknown[]) =>
      req.method.collate(batch, { padTokenId, padToMultipleOf: hp.sequenceBucket, maxLength: run.maxLength });
    const data = exampleData(await prepared(run, run.examples), collate);
    const trainer = new Trainer(run.objective, run.state, run.trainer);
    return {
      steps: batchSteps(trainer, data, hp, run.rng),
      async validator(examples) {
        const all = await prepared(run, examples);
        const batches: Batch[] = [];
        for (let i = 0; i < all.length; i += hp.batchSize)
          batches.push(collate(all.slice(i, i + hp.batchSize)));
        const { executionProvider, threads, memoryLayout, floatWeights } = run.trainer;
        const evaluator = new Evaluator(run.objective, {
          executionProvider,
          threads,
          memoryLayout,
          floatWeights,
        });
        return {
          measure: async () => {
            const values = new Map([...trainer.state.params].map(([name, p]) => [name, p.value]));
            return { eval_loss: (await evaluator.evaluate(values, batches)).loss };
          },
          release: () => evaluator.release(),
        };
      },
      release: () => trainer.release(),
    };
  },
};

/** Examples after the method's work on them before use. */
function prepared(run: PreparedRun, examples: unknown[]): Promise<unknown[]> {
  const { req } = run;
  if (!req.method.prepare) return Promise.resolve(examples);
  return req.method.prepare(examples, {
    baseModelPath: req.modelPath,
    maxLength: run.maxLength,
    hyperparameters: req.hyperparameters,
    executionProvider: req.executionProvider,
    threads: req.threads ?? undefined,
    memoryLayout: run.trainer.memoryLayout,
    floatWeights: run.trainer.floatWeights,
  });
}
