/**
 * The forward pass shared by all families: embeddings, virtual tokens (prompt tuning), positions and the attention
 * mask (with or without a static cache), the family's layers, then the head on the text positions.
 */
import * as op from '../../engine/ops';
import { Graph, Tensor } from '../../engine/graph';
import * as nn from '../../engine/nn';
import type { CausalLMOptions, CausalLMOutputs, LoadedModel } from '../types';
import { prependVirtualTokens } from '../prompt-tuning';
import { attentionMask, queryBlocks } from './attention';
import { ForwardBuilder, pickPositions } from './builder';
import { Family, Positions } from './family';
import { familyEntry } from './registry';

export function familyOf(m: LoadedModel): Family {
  return familyEntry(m.config).forward;
}

export function buildFamily(g: Graph, m: LoadedModel, opts: CausalLMOptions): CausalLMOutputs {
  const family = familyOf(m);
  const b = new ForwardBuilder(g, m, opts, family.checkpointName(m));
  const { inputIds, cache } = opts;
  let embeds = family.embed(b, inputIds); // (B, T, C)
  let keyMask = opts.attentionMask; // (B, T), or (B, Tmax) over the cache slots
  const prompt = b.promptEmbeddings();
  const virtual = prompt && (!cache || cache.prefill) ? prompt.shape[0] : 0;
  if (prompt && virtual) {
    const joined = prependVirtualTokens(prompt, embeds, keyMask);
    embeds = joined.embeds; // (B, N + T, C)
    if (!cache) keyMask = joined.mask;
  }
  const l = embeds.shape[1];
  if (cache && !opts.positionIds) throw new Error('buildCausalLM: a cached run needs positionIds');
  if (opts.positionIds && opts.positionIds.shape[1] !== l) {
    throw new Error(
      `buildCausalLM: positionIds ${opts.positionIds} must cover all ${l} tokens (virtual ones included)`,
    );
  }
  const positions: Positions = opts.positionIds
    ? { positionIds: opts.positionIds, tableSize: cache ? keyMask.shape[1] : l }
    : { offset: 0 };
  const mask = attentionMask(g, keyMask, l, cache?.slot); // (B, 1, L, Tk)
  const layout = opts.memoryLayout ?? {};
  const { hidden: all, present } = family.layers(b, embeds, {
    positions,
    mask,
    cache: cache && { layers: cache.layers, slot: cache.slot },
    blocks: layout.attentionBlock ? queryBlocks(mask, layout.attentionBlock, !cache) : undefined,
    checkpointLayers: !!layout.checkpointLayers && !cache,
  });
  const hidden = virtual ? op.slice(all, [virtual], [l], [1]) : all; // (B, T, C)
  const logits = b.head(
    opts.logitsAt ? pickPositions(hidden, opts.logitsAt) : hidden,
    family.embeddingName(m),
  );
  const chunk = layout.lossChunk;
  const tokenLosses =
    chunk && b.headKind === 'lm' && !opts.logitsAt
      ? (targets: Tensor) => {
          const [batch, t, c] = hidden.shape;
          const flat = op.reshape(hidden, [batch * t, c]);
          const head = (rows: Tensor) => b.lmLogits(rows, family.embeddingName(m));
          // A step graph that trains no head needs the rows' gradient only; a full update needs the head's too.
          const losses = nn.linearCrossEntropy(flat, head, op.reshape(targets, [batch * t]), chunk, {
            rowGradientInForward: g.differentiated && !b.trainsBase,
          });
          return op.reshape(losses, [batch, t]);
        }
      : undefined;
  return { logits, hidden, params: b.params, noise: b.noise, present, tokenLosses };
}
