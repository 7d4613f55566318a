/** What a model family provides to the shared forward-pass driver (families/index.ts). */
import { checkpoint } from '../../engine/checkpoint';
import { Tensor } from '../../engine/graph';
import type { LayerCache, LoadedModel } from '../types';
import { QueryBlock } from './attention';
import { ForwardBuilder } from './builder';

/** Positions of the L tokens the layers see: offset..offset+L-1 for every row, or per-token ids. */
export type Positions = { offset: number } | { positionIds: Tensor; tableSize: number };

export interface LayerContext {
  positions: Positions;
  /** Additive attention mask (B, 1, L, Tk). */
  mask: Tensor;
  cache?: { layers: readonly LayerCache[]; slot: Tensor };
  /** Blocked attention over these blocks of the mask (MemoryLayout.attentionBlock). */
  blocks?: readonly QueryBlock[];
  /** Each layer a checkpointed region, recomputed from its input in the backward pass. */
  checkpointLayers: boolean;
}

/** One decoder layer on h: as built, or as a checkpointed region when the context says so. */
export function decoderLayer(ctx: LayerContext, h: Tensor, body: (x: Tensor) => Tensor): Tensor {
  return ctx.checkpointLayers ? checkpoint([h], ([x]) => [body(x)])[0] : body(h);
}

export interface Family {
  /** The checkpoint's tensor-name prefix for a module path. */
  checkpointName(m: LoadedModel): (modulePath: string) => string;
  /** Checkpoint name of the token embedding (the tied head reads it too). */
  embeddingName(m: LoadedModel): string;
  /** Token embeddings (B, T, C). */
  embed(b: ForwardBuilder, inputIds: Tensor): Tensor;
  /** The decoder stack and final norm on embeddings (B, L, C): hidden (B, L, C) and updated caches. */
  layers(b: ForwardBuilder, x: Tensor, ctx: LayerContext): { hidden: Tensor; present?: LayerCache[] };
}
