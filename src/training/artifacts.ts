/**
 * PEFT adapter folders, what LoRA and prompt tuning leave for users: adapter_config.json with the fields peft 0.21
 * writes and adapter_model.safetensors with PEFT's key names. (A full update is a Hugging Face model folder:
 * models/checkpoint-folder.ts writes those.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../models/model';
import { PEFT_TYPES } from '../models/types';
import { WritableTensor, floatTensor, writeSafetensors } from '../models/safetensors';
import { HostTensor } from './objective';

/** The peft release whose adapter layout these files follow (the fixtures were saved by it). */
const PEFT_LAYOUT_VERSION = '0.21.0';

export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_CLS';

export interface LoraConfigFields {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names as peft stores them after resolving 'all-linear'. */
  targetModules: readonly string[];
  baseModel: string | null;
  taskType: PeftTaskType;
  /** GPT-2 Conv1D layers store weights (in, out). */
  fanInFanOut?: boolean;
}

/** adapter_config.json of a LoRA adapter (every field peft writes, at its default where we do not use it). */
export function loraAdapterConfig(o: LoraConfigFields): Record<string, unknown> {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: o.baseModel,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: o.fanInFanOut ?? false,
    inference_mode: true,
    init_lora_weights: true,
    kasa_config: null,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: o.alpha,
    lora_bias: false,
    lora_dropout: o.dropout,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    monteclora_config: null,
    peft_type: PEFT_TYPES.lora,
    peft_version: PEFT_LAYOUT_VERSION,
    qalora_group_size: 16,
    r: o.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...o.targetModules].sort(),
    target_parameters: null,
    task_type: o.taskType,
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: false,
    velora_config: null,
  };
}

export interface PromptTuningConfigFields {
  numVirtualTokens: number;
  tokenDim: number;
  numLayers: number;
  numHeads: number;
  initText: string | null;
  baseModel: string | null;
  taskType: PeftTaskType;
}

/** adapter_config.json of a prompt-tuning adapter. */
export function promptTuningAdapterConfig(o: PromptTuningConfigFields): Record<string, unknown> {
  return {
    auto_mapping: null,
    base_model_name_or_path: o.baseModel,
    inference_mode: true,
    modules_to_save: null,
    num_attention_heads: o.numHeads,
    num_layers: o.numLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: o.numVirtualTokens,
    peft_type: PEFT_TYPES.prompt,
    peft_version: PEFT_LAYOUT_VERSION,
    prompt_tuning_init: o.initText === null ? 'RANDOM' : 'TEXT',
    prompt_tuning_init_text: o.initText,
    revision: null,
    task_type: o.taskType,
    token_dim: o.tokenDim,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: o.initText === null ? null : o.baseModel,
  };
}

/** float32 host tensors as safetensors entries (F32), keyed as given. */
export function toWritable(tensors: ReadonlyMap<string, HostTensor>): Record<string, WritableTensor> {
  const out: Record<string, WritableTensor> = {};
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array))
      throw new Error(`${name}: only float32 tensors are saved, got ${t.dtype}`);
    out[name] = floatTensor(t.data, t.shape);
  }
  return out;
}

/** A PEFT adapter folder; `tensors` are keyed by PEFT names. */
export function writeAdapterFolder(
  dir: string,
  config: Record<string, unknown>,
  tensors: ReadonlyMap<string, HostTensor>,
): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), toWritable(tensors));
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
}
