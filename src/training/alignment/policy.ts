/**
 * The trained policy of the RL method, with the resolved adapter kept alongside (generation snapshots and the
 * adapter-off reference need it): a full update (every weight) or LoRA (base frozen, adapter trained). LoRA is
 * resolved here once, from an adapter folder or fresh from the hyperparameters as PEFT initializes it, and its
 * Parameterization built over that same adapter.
 */
import { UnavailableError, UserInputError } from '../../errors';
import { resolveLoraTargets } from '../../models/lora';
import {
  LoadedModel,
  LoraSpec,
  MemoryWeights,
  ResolvedAdapter,
  WeightTensor,
  buildCausalLM,
  initialParameters,
  loadAdapter,
  resolveAdapter,
} from '../../models/model';
import { PeftTaskType, loraAdapterConfig, writeAdapterFolder } from '../artifacts';
import { Hyperparameters } from '../hyperparameters';
import { HostTensor } from '../objective';
import { Parameterization, ParameterizeOptions, parameterize } from '../parameterization';
import { overlayWeights } from './score-head';

export type LoraAdapter = ResolvedAdapter & { kind: 'lora' };

/** A fresh LoRA spec from the run's hyperparameters. */
export function loraSpecOf(hp: Hyperparameters): LoraSpec {
  return {
    kind: 'lora',
    r: hp.loraRank,
    alpha: hp.loraAlpha,
    dropout: hp.loraDropout,
    targets: hp.loraTargets,
  };
}

/** adapter_config.json of a LoRA adapter on `m`. */
export function loraConfigFor(
  m: LoadedModel,
  spec: LoraSpec,
  taskType: PeftTaskType,
): Record<string, unknown> {
  return loraAdapterConfig({
    r: spec.r,
    alpha: spec.alpha,
    dropout: spec.dropout,
    targetModules: resolveLoraTargets(m.config, spec.targets),
    baseModel: m.dir,
    taskType,
    fanInFanOut: m.config.family === 'gpt2',
  });
}

export interface Policy {
  /** The model as loaded (base weights). */
  model: LoadedModel;
  /** LoRA with its starting weights; absent for a full update. */
  adapter?: LoraAdapter;
  params: Parameterization;
}

export function policyFor(m: LoadedModel, o: ParameterizeOptions): Policy {
  if (o.scale === 'full') return { model: m, params: parameterize(m, o) };
  if (o.scale !== 'lora')
    throw new UnavailableError('RL trains with parameterScale FULL or LORA, not PROMPT_TUNING');
  const adapter = (
    o.adapterDir
      ? loadAdapter(o.adapterDir, m)
      : resolveAdapter(m, loraSpecOf(o.hyperparameters), () => o.rng.next())
  ) as ResolvedAdapter;
  if (adapter.kind !== 'lora') {
    throw new UserInputError(`${o.adapterDir} holds a ${adapter.kind} adapter, this run trains LORA`, [
      o.adapterDir ?? 'initAdapter',
    ]);
  }
  const config = loraConfigFor(m, adapter, 'CAUSAL_LM');
  return {
    model: m,
    adapter,
    params: {
      forward: (g, x) => buildCausalLM(g, m, { ...x, policy: 'adapter', adapter }),
      initial: initialParameters(m, 'adapter', adapter),
      save: (dir, values) => writeAdapterFolder(dir, config, values),
    },
  };
}

const asWeights = (values: ReadonlyMap<string, HostTensor>) =>
  new Map(
    [...values].map(([n, t]) => {
      if (!(t.data instanceof Float32Array)) throw new Error(`${n}: trainables are float32`);
      return [n, { data: t.data, shape: t.shape, dtype: 'float32' } as WeightTensor];
    }),
  );

/** The policy with trained `values` as a frozen model (and adapter) to generate from. */
export function policySnapshot(
  p: Policy,
  values: ReadonlyMap<string, HostTensor>,
): { model: LoadedModel; adapter?: LoraAdapter } {
  if (!p.adapter)
    return { model: { ...p.model, weights: overlayWeights(p.model.weights, asWeights(values)) } };
  return { model: p.model, adapter: { ...p.adapter, weights: new MemoryWeights(asWeights(values)) } };
}

/**
 * Trainable values under which the policy's forward computes the frozen reference: the starting weights of a
 * full update; for LoRA the base with the adapter switched off, i.e. every lora_B zero (B A x = 0 exactly), so the
 * policy's own session serves the reference without a second copy of the base weights.
 */
export function referenceValues(p: Policy): ReadonlyMap<string, HostTensor> {
  if (!p.adapter) return p.params.initial;
  return new Map(
    [...p.params.initial].map(([n, t]) => [
      n,
      /\.lora_B\.weight$/.test(n) ? { ...t, data: new Float32Array(t.data.length) } : t,
    ]),
  );
}
