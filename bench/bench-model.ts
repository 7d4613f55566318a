/**
 * The models and batches the benchmarks share: the LLaMA-style bench model of the issues (the settings of
 * ../shared/bench/torch_peer.py's defaults), the larger GPU model, and random token batches labelled at every
 * position as the peer trains on.
 */
import type { DemoModelOptions } from '../src/models/demo';
import type { LoadedModel } from '../src/models/model';
import { SCORE_WEIGHT, withScoreHead } from '../src/training/alignment/score-head';
import { parseHyperparameters } from '../src/training/hyperparameters';
import type { Batch } from '../src/training/objective';
import { parameterize } from '../src/training/parameterization';
import type { Rng } from '../src/util/rng';

/** Hidden 256, 4 layers, 4 heads, intermediate 688, vocabulary 8192. */
export const BENCH_MODEL = {
  hiddenSize: 256,
  numLayers: 4,
  numHeads: 4,
  numKeyValueHeads: 4,
  intermediateSize: 688,
  vocabSize: 8192,
} satisfies DemoModelOptions;

/** Hidden 512, 8 layers, 8 heads, intermediate 1376, vocabulary 8192 (issue 6's larger model). */
export const LARGE_MODEL = {
  hiddenSize: 512,
  numLayers: 8,
  numHeads: 8,
  numKeyValueHeads: 8,
  intermediateSize: 1376,
  vocabSize: 8192,
} satisfies DemoModelOptions;

/** Baichuan2-7B's shape: q/k/v in one W_pack, normalised head (the followed platform's own size), bfloat16. */
export const BAICHUAN2_7B = {
  family: 'baichuan',
  hiddenSize: 4096,
  numLayers: 32,
  numHeads: 32,
  numKeyValueHeads: 32,
  intermediateSize: 11_008,
  vocabSize: 125_696,
  maxPositionEmbeddings: 4096,
  dtype: 'BF16',
} as const satisfies DemoModelOptions;

/**
 * A shape-only model (models/shape-only.ts) as a one-label reward model (training/alignment/score-head.ts): its
 * family's sequence-classification config and a score head, the other weights still mapped slices. LLaMA's family
 * only: transformers has no sequence-classification architecture for Baichuan.
 */
export function shapeOnlyRewardModel(model: LoadedModel): LoadedModel {
  const scored = withScoreHead(model, () => 0.5);
  const base = model.weights;
  const mapped = (name: string) => (name === SCORE_WEIGHT ? null : (base.mapped?.(name) ?? null));
  return { ...scored, weights: { ...scored.weights, mapped } };
}

/** The benches' LoRA: rank 8, alpha 16 (the peer scales LoRA by 2.0 = alpha / r), on q/v as the peer adapts them. */
export const BENCH_LORA = { loraRank: 8, loraAlpha: 16 } as const;

/** A full update, or the benches' LoRA on `targets`, of `model`, from `rng`. */
export function benchParameters(
  model: LoadedModel,
  scale: 'full' | 'lora',
  rng: Rng,
  targets = ['q_proj', 'v_proj'],
) {
  return parameterize(model, {
    scale,
    hyperparameters: parseHyperparameters({ ...BENCH_LORA, loraTargets: targets }),
    adapterDir: null,
    rng,
  });
}

/** Random tokens (batch, seq) below `vocab`, every position labelled. */
export function randomBatch(batch: number, seq: number, vocab: number, rng: Rng): Batch {
  const n = batch * seq;
  const ids = BigInt64Array.from({ length: n }, () => BigInt(rng.int(vocab)));
  const shape = [batch, seq];
  return {
    tensors: {
      input_ids: { data: ids, shape, dtype: 'int64' },
      attention_mask: { data: new BigInt64Array(n).fill(1n), shape, dtype: 'int64' },
      labels: { data: ids, shape, dtype: 'int64' },
    },
    tokens: n,
    examples: batch,
  };
}
