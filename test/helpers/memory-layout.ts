import { MemoryLayout } from '../../src/models/memory-layout';

/**
 * Every memory technique forced on at sizes the fixtures' short sequences split into several pieces: attention in
 * blocks of 3 query rows, the head and loss in chunks of 5 tokens, every decoder layer recomputed.
 */
export const RECOMPUTED: { memoryLayout: MemoryLayout } = {
  memoryLayout: { attentionBlock: 3, lossChunk: 5, checkpointLayers: true },
};
