/** LoRA pieces of the reward model's own parameterization: the spec from hyperparameters and adapter_config.json. */
import { familyEntry } from '../../models/families/registry';
import { resolveLoraTargets } from '../../models/lora';
import { LoadedModel, LoraSpec, ResolvedAdapter } from '../../models/model';
import { PeftTaskType, loraAdapterConfig } from '../artifacts';
import { Hyperparameters } from '../hyperparameters';

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
    fanInFanOut: familyEntry(m.config).fanInFanOut,
  });
}
