/**
 * The GPU memory a training job's process holds, reported with its steps: `extra.gpu_memory_bytes` (stored and
 * served as every step's extra metrics are) on a GPU provider, where nvidia-smi can read it. On the CPU there is
 * none to report, and steps go out as they are.
 */
import { processGpuMemory } from '../../engine/gpu-memory';
import type { ExecutionProvider } from '../../engine/session';
import type { StepEvent } from '../../training/run-job';

/** The extra metric's key. */
export const GPU_MEMORY_KEY = 'gpu_memory_bytes';

/**
 * Adds the process's GPU memory to step events, read at most every `everyMs` (nvidia-smi takes tens of
 * milliseconds; steps in between carry the last reading).
 */
export function gpuMemoryReporter(
  executionProvider: ExecutionProvider,
  read: () => number | null = () => processGpuMemory(),
  everyMs = 5000,
  now: () => number = Date.now,
): (event: StepEvent) => StepEvent {
  if (executionProvider === 'cpu') return (event) => event;
  let last: { at: number; bytes: number | null } | null = null;
  return (event) => {
    if (!last || now() - last.at >= everyMs) last = { at: now(), bytes: read() };
    const { bytes } = last;
    return bytes === null ? event : { ...event, extra: { ...event.extra, [GPU_MEMORY_KEY]: bytes } };
  };
}
