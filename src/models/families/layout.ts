/**
 * The linear layers of each family, named by their module path in the transformers model (the names PEFT matches
 * targets against and writes into adapter keys), with their sizes from the config alone.
 */
import { ModelConfig } from '../config';

export interface LinearModule {
  /** Module path, e.g. model.layers.0.self_attn.q_proj or transformer.h.0.attn.c_attn. */
  path: string;
  inFeatures: number;
  outFeatures: number;
  /** 'linear': weight (out, in), y = x W^T + b. 'conv1d' (GPT-2): weight (in, out), y = x W + b. */
  layout: 'linear' | 'conv1d';
  bias: boolean;
}

/** Module paths of LLaMA-style layer `i` (llama, qwen2, baichuan). */
export function llamaLayerModules(c: ModelConfig, i: number) {
  const at = `model.layers.${i}`;
  const lin = (name: string, inFeatures: number, outFeatures: number, bias: boolean): LinearModule => ({
    path: `${at}.${name}`,
    inFeatures,
    outFeatures,
    layout: 'linear',
    bias,
  });
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const qkvBias = c.attentionBias.qkv;
  return {
    /** [q, k, v], or Baichuan's one fused W_pack. */
    qkv:
      c.family === 'baichuan'
        ? [lin('self_attn.W_pack', c.hiddenSize, 3 * c.hiddenSize, qkvBias)]
        : [
            lin('self_attn.q_proj', c.hiddenSize, q, qkvBias),
            lin('self_attn.k_proj', c.hiddenSize, kv, qkvBias),
            lin('self_attn.v_proj', c.hiddenSize, kv, qkvBias),
          ],
    o: lin('self_attn.o_proj', q, c.hiddenSize, c.attentionBias.output),
    gate: lin('mlp.gate_proj', c.hiddenSize, c.intermediateSize, c.mlpBias),
    up: lin('mlp.up_proj', c.hiddenSize, c.intermediateSize, c.mlpBias),
    down: lin('mlp.down_proj', c.intermediateSize, c.hiddenSize, c.mlpBias),
  };
}

/** Module paths of GPT-2 block `i` (Conv1D layers). */
export function gpt2LayerModules(c: ModelConfig, i: number) {
  const at = `transformer.h.${i}`;
  const conv = (name: string, inFeatures: number, outFeatures: number): LinearModule => ({
    path: `${at}.${name}`,
    inFeatures,
    outFeatures,
    layout: 'conv1d',
    bias: true,
  });
  return {
    qkv: conv('attn.c_attn', c.hiddenSize, 3 * c.hiddenSize),
    o: conv('attn.c_proj', c.hiddenSize, c.hiddenSize),
    fc: conv('mlp.c_fc', c.hiddenSize, c.intermediateSize),
    proj: conv('mlp.c_proj', c.intermediateSize, c.hiddenSize),
  };
}
