/**
 * Reward-model artifacts: what a REWARD_MODEL run writes and what RL reads back.
 * - full update: a Hugging Face `<Family>ForSequenceClassification` folder (config + weights with `score.weight`);
 * - LoRA: a PEFT folder of task SEQ_CLS: the LoRA tensors plus the whole head under `modules_to_save`
 *   (`base_model.model.score.weight`), on top of the base model named in adapter_config.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserInputError } from '../../errors';
import { loraSpecFromConfig } from '../../models/lora';
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  LoadedModel,
  LoraSpec,
  MemoryWeights,
  SafetensorsWeights,
  WeightTensor,
  loadModel,
  mergeAdapter,
  resolveAdapter,
} from '../../models/model';
import { PEFT_TYPES } from '../../models/types';
import { SafetensorsReader } from '../../models/safetensors';
import { writeAdapterFolder } from '../artifacts';
import { LoraAdapter, loraConfigFor } from './lora';
import { HostTensor } from '../objective';
import { type RewardModelSize, parameterCount, shapeOf } from '../memory-plan';
import {
  PEFT_SCORE_WEIGHT,
  SCORE_WEIGHT,
  SEQ_CLS_MODULES_TO_SAVE,
  overlayWeights,
  withScoreHead,
} from './score-head';

/** adapter_config.json of a LoRA reward model (peft's SEQ_CLS task: the head saved whole). */
export function rewardLoraConfig(m: LoadedModel, spec: LoraSpec): Record<string, unknown> {
  return { ...loraConfigFor(m, spec, 'SEQ_CLS'), modules_to_save: SEQ_CLS_MODULES_TO_SAVE };
}

/** Write a LoRA reward model: `values` holds the LoRA tensors and the head, all under PEFT names. */
export function writeRewardAdapter(
  dir: string,
  m: LoadedModel,
  spec: LoraSpec,
  values: ReadonlyMap<string, HostTensor>,
): void {
  if (!values.has(PEFT_SCORE_WEIGHT))
    throw new Error(`a LoRA reward model saves its head ${PEFT_SCORE_WEIGHT}`);
  writeAdapterFolder(dir, rewardLoraConfig(m, spec), values);
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UserInputError(`${file}: not readable JSON (${(err as Error).message})`, [file], 'BAD_ADAPTER');
  }
}

/** A LoRA reward-model folder read against its base `m`: the adapter (without the head) and the head (1, C). */
export function readRewardAdapter(dir: string, m: LoadedModel): { adapter: LoraAdapter; head: WeightTensor } {
  const file = path.join(dir, ADAPTER_CONFIG);
  const cfg = readJson(file);
  if (cfg.peft_type !== PEFT_TYPES.lora || cfg.task_type !== 'SEQ_CLS') {
    throw new UserInputError(
      `${file}: a LoRA reward model has peft_type ${PEFT_TYPES.lora} and task_type SEQ_CLS, got ${cfg.peft_type}/${cfg.task_type}`,
      [file, 'task_type'],
      'BAD_ADAPTER',
    );
  }
  const stored = new SafetensorsWeights(SafetensorsReader.open(path.join(dir, ADAPTER_WEIGHTS)));
  if (!stored.has(PEFT_SCORE_WEIGHT)) {
    throw new UserInputError(
      `${dir}: the adapter has no ${PEFT_SCORE_WEIGHT}, so it holds no reward head`,
      [dir],
      'BAD_ADAPTER',
    );
  }
  const head = stored.get(PEFT_SCORE_WEIGHT);
  if (head.shape.join() !== `1,${m.config.hiddenSize}`) {
    throw new UserInputError(
      `${dir}: ${PEFT_SCORE_WEIGHT} has shape [${head.shape.join(', ')}], expected [1, ${m.config.hiddenSize}]`,
      [dir],
      'BAD_ADAPTER',
    );
  }
  const lora = new MemoryWeights(
    stored
      .names()
      .filter((n) => n !== PEFT_SCORE_WEIGHT)
      .map((n) => [n, stored.get(n)]),
  );
  const saved = cfg.modules_to_save;
  if (!Array.isArray(saved) || !saved.includes('score')) {
    throw new UserInputError(
      `${file}: modules_to_save must list score`,
      [file, 'modules_to_save'],
      'BAD_ADAPTER',
    );
  }
  // The head (the one module saved whole) is read above; the rest is a plain LoRA adapter.
  const loraFields = { ...cfg, modules_to_save: null };
  const spec = { ...loraSpecFromConfig(loraFields, file), weights: lora } as LoraSpec;
  const adapter = resolveAdapter(m, spec, () => 0, path.join(dir, ADAPTER_WEIGHTS)) as LoraAdapter;
  return { adapter, head };
}

/**
 * What the memory plan needs of a reward-model folder (memory-plan.ts `RewardModelSize`), from config.json and the
 * safetensors headers, no weight read. A LoRA folder's model (`loadRewardModel`: merged, with its head laid over)
 * keeps no file mapping: every weight is a host float32 tensor.
 */
export async function rewardModelSize(dir: string, basePath?: string): Promise<RewardModelSize> {
  const adapterConfig = path.join(dir, ADAPTER_CONFIG);
  const lora = fs.existsSync(adapterConfig);
  const base = lora ? (basePath ?? readJson(adapterConfig).base_model_name_or_path) : dir;
  if (typeof base !== 'string' || !base) {
    throw new UserInputError(`${adapterConfig}: no base_model_name_or_path`, [adapterConfig], 'BAD_ADAPTER');
  }
  const m = await loadModel(base);
  const parameters = parameterCount(m);
  return { shape: shapeOf(m.config), parameters, inMemoryParameters: lora ? parameters : 0 };
}

/**
 * A finished reward model as one frozen sequence-classification model: a full folder as it is, a LoRA folder
 * merged into its base (found at `basePath`, else at the adapter's base_model_name_or_path) with its head.
 */
export async function loadRewardModel(dir: string, basePath?: string): Promise<LoadedModel> {
  const adapterConfig = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(adapterConfig)) {
    const m = await loadModel(dir);
    if (m.config.head !== 'sequence_classification') {
      throw new UserInputError(
        `${dir} holds a ${m.config.architecture}, not a reward model (a sequence-classification model with a score head)`,
        [dir],
        'NOT_A_REWARD_MODEL',
      );
    }
    return withScoreHead(m, () => 0); // checks num_labels; never draws
  }
  const base = basePath ?? readJson(adapterConfig).base_model_name_or_path;
  if (typeof base !== 'string' || !base) {
    throw new UserInputError(`${adapterConfig}: no base_model_name_or_path`, [adapterConfig], 'BAD_ADAPTER');
  }
  const m = await loadModel(base);
  const { adapter, head } = readRewardAdapter(dir, m);
  const merged = mergeAdapter(
    withScoreHead(m, () => 0),
    adapter,
  );
  return { ...merged, weights: overlayWeights(merged.weights, new Map([[SCORE_WEIGHT, head]])) };
}
