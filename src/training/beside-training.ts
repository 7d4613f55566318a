/**
 * Sessions of the forward-only passes that run beside a job's training steps: validation losses (Evaluator) and
 * the log-probabilities of DPO's reference and RL's old and reference policies (TokenLogProbs). A forward graph
 * recomputes nothing, so onnxruntime would fold its 16-bit weight casts into float32 copies of its own, one per
 * batch shape, that no estimate counts. These share the steps' float32 copy instead (engine/float-weights), or,
 * where the memory plan keeps frozen weights 16-bit (checkpointed layers), cast at each use as the steps do.
 */
import { FloatWeights } from '../engine/float-weights';
import { ExecutionProvider, SessionOptions } from '../engine/session';
import { MemoryLayout } from '../models/memory-layout';

export interface BesideTrainingOptions {
  executionProvider?: ExecutionProvider;
  threads?: number;
  /** The steps' layout: blocked attention and a chunked head apply here too; checkpointing decides the casts. */
  memoryLayout?: MemoryLayout;
  /** The steps' shared float32 copy of 16-bit frozen weights (TrainerOptions.floatWeights). */
  floatWeights?: FloatWeights;
}

export function besideTrainingSession(o: BesideTrainingOptions): SessionOptions {
  return {
    executionProvider: o.executionProvider ?? 'cpu',
    threads: o.threads,
    floatWeights: o.floatWeights,
    castHalfWeights: !!o.memoryLayout?.checkpointLayers,
  };
}
