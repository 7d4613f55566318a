/**
 * The scalar `score` head of a reward model, as transformers' `<Family>ForSequenceClassification` with one label
 * has it: `score.weight` (1, hidden), no bias, read at the last real token. A causal LM gets a fresh head
 * (normal(0, initializer_range), transformers' init) and a config that names the sequence-classification
 * architecture, so a full checkpoint written from it loads with AutoModelForSequenceClassification.
 */
import * as path from 'node:path';
import { UnavailableError, UserInputError } from '../../errors';
import { parseModelConfig } from '../../models/config';
import { familyEntry } from '../../models/families/registry';
import { LoadedModel, WeightStore, WeightTensor } from '../../models/model';

/** The head's name in a model checkpoint. */
export const SCORE_WEIGHT = 'score.weight';
/** The head's name in a PEFT adapter of task SEQ_CLS (a `modules_to_save` module, saved whole). */
export const PEFT_SCORE_WEIGHT = 'base_model.model.score.weight';
/** What peft adds to `modules_to_save` for SEQ_CLS (PeftModelForSequenceClassification). */
export const SEQ_CLS_MODULES_TO_SAVE = ['classifier', 'score'];

/** `weights` with extra tensors laid over them (extra names win). */
export function overlayWeights(base: WeightStore, extra: ReadonlyMap<string, WeightTensor>): WeightStore {
  return {
    names: () => [...new Set([...base.names(), ...extra.keys()])],
    has: (n) => extra.has(n) || base.has(n),
    shape: (n) => extra.get(n)?.shape ?? base.shape(n),
    get: (n) => extra.get(n) ?? base.get(n),
  };
}

/** Standard normal draws from uniform ones (Box-Muller). */
function normal(n: number, std: number, random: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - random(); // (0, 1]: log stays finite
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  return out;
}

/**
 * `m` as a one-label sequence-classification model: returned as is when it already is one (its `score.weight`
 * checked), else with a fresh head and the family's sequence-classification config. `random` is uniform [0, 1).
 */
export function withScoreHead(m: LoadedModel, random: () => number): LoadedModel {
  const c = m.config;
  const file = path.join(m.dir, 'config.json');
  if (c.head === 'sequence_classification') {
    if (c.numLabels !== 1) {
      throw new UserInputError(
        `${file}: a reward model has one output, this ${c.architecture} has num_labels ${c.numLabels}`,
        [file, 'num_labels'],
        'BAD_MODEL_CONFIG',
      );
    }
    return m;
  }
  const architecture = familyEntry(c).sequenceClassification;
  if (!architecture) {
    throw new UnavailableError(
      `reward models need a sequence-classification architecture, which transformers has none of for ${c.family}`,
    );
  }
  const raw = {
    ...c.raw,
    architectures: [architecture],
    id2label: { '0': 'LABEL_0' },
    label2id: { LABEL_0: 0 },
    // transformers finds the last real token of a batch row through the pad id; without one it refuses batches.
    pad_token_id: c.padTokenId ?? m.tokenizer.padTokenId ?? m.tokenizer.eosTokenId,
  };
  const config = parseModelConfig(raw, file);
  const std = typeof c.raw.initializer_range === 'number' ? c.raw.initializer_range : 0.02;
  const head: WeightTensor = {
    data: normal(c.hiddenSize, std, random),
    shape: [1, c.hiddenSize],
    dtype: 'float32',
  };
  return { ...m, config, weights: overlayWeights(m.weights, new Map([[SCORE_WEIGHT, head]])) };
}
