/**
 * What a parameter scale trains and how it is saved: the full model (every HF weight a param, saved as a Hugging
 * Face folder), LoRA or prompt tuning (base frozen, adapter tensors params under their PEFT names, saved as a PEFT
 * adapter folder). An adapter starts from a PEFT folder (initAdapter, or the checkpoint being resumed) whose
 * adapter_config.json then defines it, else it is initialised as PEFT does, drawing from the run's RNG.
 */
import { familyEntry } from '../models/families/registry';
import { UserInputError } from '../errors';
import { writeModelFolder } from '../models/checkpoint-folder';
import { resolveLoraTargets } from '../models/lora';
import {
  AdapterSpec,
  CausalLMOptions,
  CausalLMOutputs,
  LoadedModel,
  ResolvedAdapter,
  buildCausalLM,
  initialParameters,
  loadAdapter,
  resolveAdapter,
} from '../models/model';
import { ADAPTER_KIND_OF_SCALE, PEFT_TYPES } from '../models/types';
import { loraAdapterConfig, promptTuningAdapterConfig, toWritable, writeAdapterFolder } from './artifacts';
import type { EngineScale as ParameterScale } from '../vocabulary';
import { Hyperparameters } from './hyperparameters';
import { HostTensor } from './objective';
import { Rng } from '../util/rng';
import { Graph } from '../engine/graph';

/**
 * The trained model's forward pass on a graph: logits for input ids and mask (B, T), its trainables and noise.
 * Objectives may ask for the score head, logits at given positions, or (adapters) the base model alone.
 */
export type CausalLMForward = (
  g: Graph,
  inputs: Pick<CausalLMOptions, 'inputIds' | 'attentionMask'> &
    Partial<Pick<CausalLMOptions, 'head' | 'logitsAt' | 'adapterEnabled' | 'memoryLayout'>>,
) => Pick<CausalLMOutputs, 'logits' | 'params'> &
  Partial<Pick<CausalLMOutputs, 'hidden' | 'noise' | 'tokenLosses'>>;

export interface Parameterization {
  forward: CausalLMForward;
  /** Trainable tensors' starting values, keyed as the forward's params. */
  initial: ReadonlyMap<string, HostTensor>;
  /** Write the artifact (model or adapter folder) for trained values. */
  save(dir: string, values: ReadonlyMap<string, HostTensor>): void;
  /** The adapter the forward pass applies (LoRA, prompt tuning); absent for a full update. */
  adapter?: ResolvedAdapter;
}

export interface ParameterizeOptions {
  scale: ParameterScale;
  hyperparameters: Hyperparameters;
  /** A PEFT adapter folder to start from (adapter scales only). */
  adapterDir: string | null;
  rng: Rng;
}

function adapterFor(
  m: LoadedModel,
  o: ParameterizeOptions,
  scale: keyof typeof ADAPTER_KIND_OF_SCALE,
): ResolvedAdapter {
  const hp = o.hyperparameters;
  const kind = ADAPTER_KIND_OF_SCALE[scale];
  if (o.adapterDir) {
    const adapter = loadAdapter(o.adapterDir, m);
    if (adapter.kind !== kind) {
      throw new UserInputError(
        `${o.adapterDir} holds a ${adapter.kind} adapter, this run trains ${PEFT_TYPES[kind]}`,
        [o.adapterDir],
        'BAD_ADAPTER',
      );
    }
    return adapter;
  }
  const spec: AdapterSpec =
    kind === 'lora'
      ? { kind, r: hp.loraRank, alpha: hp.loraAlpha, dropout: hp.loraDropout, targets: hp.loraTargets }
      : { kind, numVirtualTokens: hp.numVirtualTokens, initText: hp.promptTuningInitText };
  return resolveAdapter(m, spec, () => o.rng.next());
}

export function parameterize(m: LoadedModel, o: ParameterizeOptions): Parameterization {
  if (o.scale === 'full') {
    if (o.adapterDir)
      throw new UserInputError('initAdapter needs parameterScale lora or prompt_tuning', ['initAdapter']);
    return {
      forward: (g, x) => buildCausalLM(g, m, { ...x, policy: 'full' }),
      initial: initialParameters(m, 'full'),
      save: (dir, values) =>
        writeModelFolder(dir, { config: m.config, tensors: toWritable(values), sourceFolder: m.dir }),
    };
  }
  const spec = adapterFor(m, o, o.scale);
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
          fanInFanOut: familyEntry(c).fanInFanOut,
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
  return {
    forward: (g, x) => buildCausalLM(g, m, { ...x, policy: 'adapter', adapter: spec }),
    initial: initialParameters(m, 'adapter', spec),
    save: (dir, values) => writeAdapterFolder(dir, config, values),
    adapter: spec,
  };
}
