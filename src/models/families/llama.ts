/**
 * LLaMA-style decoders as transformers' LlamaModel / Qwen2Model and Baichuan's modeling_baichuan.py compute them:
 * pre-norm RMSNorm blocks, RoPE (rotate-half), grouped-query attention scaled by 1/sqrt(head_dim), and the SwiGLU
 * MLP down(act(gate(x)) * up(x)). Qwen2 differs only in q/k/v biases (layout.ts); Baichuan fuses q/k/v into
 * W_pack (3C, C), whose output rows are q, then k, then v.
 */
import * as nn from '../../engine/nn';
import * as op from '../../engine/ops';
import { Tensor } from '../../engine/graph';
import type { LayerCache } from '../types';
import { attend } from './attention';
import { applyRope, buildRope } from './rope';
import { Family, decoderLayer } from './family';
import { llamaLayerModules } from './layout';

const EMBEDDING = 'model.embed_tokens.weight';

export const llamaFamily: Family = {
  checkpointName: () => (p) => p,
  embeddingName: () => EMBEDDING,

  embed(b, inputIds) {
    const c = b.m.config;
    return b.rows(EMBEDDING, [c.vocabSize, c.hiddenSize], inputIds); // (B, T, C)
  },

  layers(b, x, ctx) {
    const c = b.m.config;
    const [batch, l] = x.shape;
    if (c.positions.kind !== 'rope') throw new Error(`${c.family}: expected RoPE positions`);
    const rope = buildRope(b.g, c.positions, c.headDim, l, ctx.positions);
    const heads = (t: Tensor, n: number) => op.reshape(t, [batch, l, n, c.headDim]); // (B, L, n, D)
    const present: LayerCache[] = [];
    let h = x;
    for (let i = 0; i < c.numLayers; i++) {
      h = decoderLayer(ctx, h, (input) => {
        const mods = llamaLayerModules(c, i);
        const at = `model.layers.${i}`;
        const normed = nn.rmsNorm(
          input,
          b.weight(`${at}.input_layernorm.weight`, [c.hiddenSize]),
          c.norm.eps,
        );
        const projected = b.linears(mods.qkv, normed);
        const [q, k, v] =
          projected.length === 1
            ? op.split(projected[0], [c.hiddenSize, c.hiddenSize, c.hiddenSize], 2)
            : projected;
        const attn = attend(
          applyRope(heads(q, c.numHeads), rope),
          applyRope(heads(k, c.numKvHeads), rope),
          heads(v, c.numKvHeads),
          ctx.mask,
          1 / Math.sqrt(c.headDim),
          ctx.cache && { layer: ctx.cache.layers[i], slot: ctx.cache.slot },
          ctx.blocks,
        );
        if (attn.present) present.push(attn.present);
        const attended = op.add(input, b.linear(mods.o, attn.context));
        const normed2 = nn.rmsNorm(
          attended,
          b.weight(`${at}.post_attention_layernorm.weight`, [c.hiddenSize]),
          c.norm.eps,
        );
        const [gate, up] = b.linears([mods.gate, mods.up], normed2);
        const gated =
          c.activation === 'silu' ? nn.swiglu(gate, up) : op.mul(b.activation(c.activation, gate), up);
        return op.add(attended, b.linear(mods.down, gated));
      });
    }
    const hidden = nn.rmsNorm(h, b.weight('model.norm.weight', [c.hiddenSize]), c.norm.eps);
    return { hidden, present: ctx.cache ? present : undefined };
  },
};
