/**
 * What a parameter scale trains and how it is saved: the full model (every HF weight a param, saved as a Hugging
 * Face folder), LoRA or prompt tuning (base frozen, adapter tensors params under their PEFT names, saved as a PEFT
 * adapter folder). An adapter starts from a PEFT folder (initAdapter, or the checkpoint being resumed) whose
 * adapter_config.json then defines it, else it is initialised as PEFT does, drawing from the run's RNG.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Graph } from '../engine/graph';
import { UserInputError } from '../errors';
import { writeModelFolder } from '../models/checkpoint-folder';
import { familyOf } from '../models/families';
import { checkLoraWeights, initLoraWeights, loraSpecFromConfig, resolveLoraTargets } from '../models/lora';
import { AdapterSpec, LoadedModel, MemoryWeights, WeightStore, buildCausalLM } from '../models/model';
import {
  checkPromptWeights,
  promptSpecFromConfig,
  randomPromptWeights,
  textPromptWeights,
} from '../models/prompt-tuning';
import { SafetensorsReader } from '../models/safetensors';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  loraAdapterConfig,
  promptTuningAdapterConfig,
  toWritable,
  writeAdapterFolder,
} from './artifacts';
import { ParameterScale } from './config-file';
import { Hyperparameters } from './hyperparameters';
import { HostTensor } from './objective';
import { Rng } from './rng';
import { CausalLMForward } from './sft';

export interface Parameterization {
  forward: CausalLMForward;
  /** Trainable tensors' starting values, keyed as the forward's params. */
  initial: ReadonlyMap<string, HostTensor>;
  /** Write the artifact (model or adapter folder) for trained values. */
  save(dir: string, values: ReadonlyMap<string, HostTensor>): void;
}

export interface ParameterizeOptions {
  scale: ParameterScale;
  hyperparameters: Hyperparameters;
  /** A PEFT adapter folder to start from (adapter scales only). */
  adapterDir: string | null;
  rng: Rng;
}

/** adapter_config.json and the weights of a PEFT folder. */
function readAdapterFolder(dir: string): {
  config: Record<string, unknown>;
  weights: WeightStore;
  file: string;
} {
  const file = path.join(dir, ADAPTER_CONFIG_FILE);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  for (const f of [file, weightsFile]) {
    if (!fs.existsSync(f))
      throw new UserInputError(
        `${dir} is not a PEFT adapter folder: ${path.basename(f)} is missing`,
        [dir],
        'BAD_ADAPTER',
      );
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserInputError(`${file}: not valid JSON (${(err as Error).message})`, [file], 'BAD_ADAPTER');
  }
  const reader = SafetensorsReader.open(weightsFile);
  const weights = new MemoryWeights(
    reader.names().map((n) => [n, { data: reader.float32(n), shape: reader.entry(n).shape }]),
  );
  return { config, weights, file };
}

function expectPeftType(config: Record<string, unknown>, file: string, wanted: string): void {
  if (config.peft_type !== wanted) {
    throw new UserInputError(
      `${file}: peft_type is ${JSON.stringify(config.peft_type)}, this run needs ${wanted}`,
      [file, 'peft_type'],
      'BAD_ADAPTER',
    );
  }
}

function adapterSpec(m: LoadedModel, o: ParameterizeOptions): AdapterSpec {
  const hp = o.hyperparameters;
  const folder = o.adapterDir ? readAdapterFolder(o.adapterDir) : null;
  if (o.scale === 'lora') {
    if (folder) {
      expectPeftType(folder.config, folder.file, 'LORA');
      const spec = { ...loraSpecFromConfig(folder.config, folder.file), weights: folder.weights };
      checkLoraWeights(m.config, spec, folder.weights, o.adapterDir!);
      return spec;
    }
    const spec = {
      kind: 'lora' as const,
      r: hp.loraRank,
      alpha: hp.loraAlpha,
      dropout: hp.loraDropout,
      targets: hp.loraTargets,
    };
    return { ...spec, weights: initLoraWeights(m.config, spec, () => o.rng.next()) };
  }
  if (folder) {
    expectPeftType(folder.config, folder.file, 'PROMPT_TUNING');
    const spec = { ...promptSpecFromConfig(folder.config, folder.file), weights: folder.weights };
    checkPromptWeights(m.config, spec, folder.weights, o.adapterDir!);
    return spec;
  }
  const n = hp.numVirtualTokens;
  const weights =
    hp.promptTuningInitText === null
      ? randomPromptWeights(m.config, n, () => o.rng.next())
      : textPromptWeights(m.weights, familyOf(m).embeddingName(m), m.tokenizer, hp.promptTuningInitText, n);
  return { kind: 'prompt', numVirtualTokens: n, initText: hp.promptTuningInitText, weights };
}

/** The trainable tensors' names and shapes, from a forward pass built on a small throwaway graph. */
function trainableShapes(forward: CausalLMForward): Map<string, readonly number[]> {
  const g = new Graph();
  const ids = g.input('input_ids', [1, 2], 'int64');
  const { params } = forward(g, { inputIds: ids, attentionMask: g.input('attention_mask', [1, 2], 'int64') });
  return new Map([...params].map(([name, t]) => [name, t.shape]));
}

export function parameterize(m: LoadedModel, o: ParameterizeOptions): Parameterization {
  if (o.scale === 'full') {
    if (o.adapterDir)
      throw new UserInputError('initAdapter needs parameterScale lora or prompt_tuning', ['initAdapter']);
    const forward: CausalLMForward = (g, x) => buildCausalLM(g, m, { ...x, policy: 'full' });
    const initial = new Map<string, HostTensor>();
    for (const name of trainableShapes(forward).keys()) initial.set(name, m.weights.get(name));
    return {
      forward,
      initial,
      save: (dir, values) =>
        writeModelFolder(dir, { config: m.config, tensors: toWritable(values), sourceFolder: m.dir }),
    };
  }
  const spec = adapterSpec(m, o);
  const forward: CausalLMForward = (g, x) => buildCausalLM(g, m, { ...x, policy: 'adapter', adapter: spec });
  const initial = new Map<string, HostTensor>();
  for (const name of trainableShapes(forward).keys()) initial.set(name, spec.weights!.get(name));
  const c = m.config;
  const config =
    spec.kind === 'lora'
      ? loraAdapterConfig({
          r: spec.r,
          alpha: spec.alpha,
          dropout: spec.dropout,
          targetModules: resolveLoraTargets(c, spec.targets),
          baseModel: m.dir,
          taskType: 'CAUSAL_LM',
          fanInFanOut: c.family === 'gpt2',
        })
      : promptTuningAdapterConfig({
          numVirtualTokens: spec.numVirtualTokens,
          tokenDim: c.hiddenSize,
          numLayers: c.numLayers,
          numHeads: c.numHeads,
          initText: spec.initText ?? null,
          baseModel: m.dir,
          taskType: 'CAUSAL_LM',
        });
  return { forward, initial, save: (dir, values) => writeAdapterFolder(dir, config, values) };
}
