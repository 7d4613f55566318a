/**
 * Where a CPU session's tensors get their memory. onnxruntime's CPU arena grows by doubling and never gives back
 * what it took, so from a step's second run on it holds the step's peak about once more (the 0.5B shape at 512
 * tokens: 2.4 GiB the first step, 3.2 GiB every step after; bench:scale). Without the arena each tensor is a
 * malloc, and glibc returns a freed block to the system only if it mapped that block on its own; its threshold for
 * that rises as blocks are freed, so large tensors end up in the heap and fragment it (2.9 GiB there). A fixed
 * threshold (MALLOC_MMAP_THRESHOLD_, which glibc reads once, at process start) maps every block above it on its
 * own and unmaps it on free: the process then holds its live tensors only (2.35 GiB there, every step).
 *
 * So processes that train or generate are started with `sessionProcessEnv()` (the worker's job processes, the
 * benches' children), and a process started so runs its sessions without the arena. Any other process keeps it.
 */
const THRESHOLD = 'MALLOC_MMAP_THRESHOLD_';

/** Blocks of 64 KiB and more: every tensor that matters, not the small bookkeeping allocations. */
const RETURNING_MALLOC = { [THRESHOLD]: String(64 * 1024) };

/** The environment for a child process that will run sessions: `env` with glibc told to return freed tensors. */
export function sessionProcessEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...RETURNING_MALLOC, ...env };
}

/** Whether this process's CPU sessions use onnxruntime's arena: only where glibc does not return freed blocks. */
export function cpuArena(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[THRESHOLD] === undefined;
}
