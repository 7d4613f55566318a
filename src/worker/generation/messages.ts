/** A generation runner's progress messages (src/worker/protocol.ts has the rest). */
import type { GenerationResult } from './generate';

export type GenerationProgress =
  | { type: 'started'; promptTokens: number }
  /** The next piece of text, as decoded, and the tokens it adds (`index`: its position among every run's pieces). */
  | { type: 'text'; index: number; text: string; ids: number[]; generatedTokens: number }
  /** The whole text, before the run reports its end. */
  | { type: 'result'; result: GenerationResult };
