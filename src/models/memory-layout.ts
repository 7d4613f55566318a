/**
 * How a forward pass (and the backward pass autodiff derives from it) trades compute for memory. Every field
 * left undefined means the plain graph: the default, and exactly what was built before these options existed.
 * The trainer's memory plan chooses a layout per job; graph builders only follow it.
 */
export interface MemoryLayout {
  /** Query rows per attention block; undefined: plain attention (T x T scores kept). */
  attentionBlock?: number;
  /** Tokens per chunk of the LM head and loss; undefined: the whole sequence at once. */
  lossChunk?: number;
  /** Recompute each decoder layer from its input during backward. */
  checkpointLayers?: boolean;
  /** Vocabulary rows per slice of the LM head (each slice's weight cast and multiplied on its own); default whole. */
  headSlice?: number;
}

/** The plain graph: nothing blocked, chunked or recomputed. */
export const PLAIN_LAYOUT: MemoryLayout = {};
