/**
 * GPT-2 as transformers' GPT2Model computes it: token (wte) plus learned position (wpe) embeddings, pre-norm
 * LayerNorm blocks, the fused c_attn split into q, k, v (each C wide), attention scaled by 1/sqrt(head_dim), an MLP
 * c_proj(act(c_fc(x))) with GELU (tanh form for gelu_new), and ln_f. Its Conv1D layers store weights (in, out).
 * Checkpoints saved from GPT2LMHeadModel prefix every name with `transformer.`; older ones (from GPT2Model) do
 * not; the LM head is tied to wte.
 */
import * as nn from '../../engine/nn';
import * as op from '../../engine/ops';
import { Tensor } from '../../engine/graph';
import type { LayerCache, LoadedModel } from '../types';
import { attend } from './attention';
import { Family, decoderLayer } from './family';
import { gpt2LayerModules } from './layout';

/** The checkpoint's name for a module path under `transformer.` */
function namer(m: LoadedModel): (modulePath: string) => string {
  const prefixed = m.weights.has('transformer.wte.weight');
  return (p) => (prefixed ? p : p.replace(/^transformer\./, ''));
}

export const gpt2Family: Family = {
  checkpointName: namer,
  embeddingName: (m) => namer(m)('transformer.wte') + '.weight',

  embed(b, inputIds) {
    const c = b.m.config;
    return b.rows(`${b.checkpointName('transformer.wte')}.weight`, [c.vocabSize, c.hiddenSize], inputIds);
  },

  layers(b, x, ctx) {
    const c = b.m.config;
    const [batch, l] = x.shape;
    const name = (p: string) => b.checkpointName(`transformer.${p}`);
    const norm = (at: string, t: Tensor) =>
      nn.layerNorm(
        t,
        b.weight(`${name(at)}.weight`, [c.hiddenSize]),
        b.weight(`${name(at)}.bias`, [c.hiddenSize]),
        c.norm.eps,
      );
    const positions =
      'offset' in ctx.positions
        ? op.arange(b.g, ctx.positions.offset, ctx.positions.offset + l)
        : ctx.positions.positionIds;
    const wpe = b.rows(`${name('wpe')}.weight`, [c.maxPositionEmbeddings, c.hiddenSize], positions);
    let h = op.add(x, wpe); // (B, L, C)
    const heads = (t: Tensor) => op.reshape(t, [batch, l, c.numHeads, c.headDim]); // (B, L, H, D)
    const present: LayerCache[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      h = decoderLayer(ctx, h, (input) => {
        const mods = gpt2LayerModules(c, i);
        const [q, k, v] = op.split(
          b.linear(mods.qkv, norm(`h.${i}.ln_1`, input)),
          [c.hiddenSize, c.hiddenSize, c.hiddenSize],
          2,
        );
        const attn = attend(
          heads(q),
          heads(k),
          heads(v),
          ctx.mask,
          1 / Math.sqrt(c.headDim),
          ctx.cache && { layer: ctx.cache.layers[i], slot: ctx.cache.slot },
          ctx.blocks,
        );
        if (attn.present) present.push(attn.present);
        const attended = op.add(input, b.linear(mods.o, attn.context));
        const inner = b.activation(c.activation, b.linear(mods.fc, norm(`h.${i}.ln_2`, attended)));
        return op.add(attended, b.linear(mods.proj, inner));
      });
    }
    return { hidden: norm('ln_f', h), present: ctx.cache ? present : undefined };
  },
};
