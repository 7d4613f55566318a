/** Model shapes the memory tests share. */
import type { DemoModelOptions } from '../../src/models/demo';
import type { ModelShape } from '../../src/training/memory-plan';

/** Qwen2-0.5B's shape (float32 weights unless a test says otherwise). */
export const QWEN2_0_5B: ModelShape = {
  hiddenSize: 896,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  intermediateSize: 4864,
  vocabSize: 151_936,
};

/** 37M parameters in 2 layers: the weights dominate a step's or a generation's peak. */
export const WEIGHTY: DemoModelOptions = {
  hiddenSize: 1024,
  numLayers: 2,
  numHeads: 8,
  numKeyValueHeads: 2,
  intermediateSize: 4096,
  vocabSize: 4096,
};
