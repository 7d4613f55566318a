/**
 * GPU memory, as NVIDIA's driver reports it through `nvidia-smi`: what a process holds on the device (its compute
 * and graphics contexts, since onnxruntime's WebGPU provider reaches the GPU through Vulkan) and what is free on
 * it. onnxruntime-node reports neither (no device allocator statistics, no adapter limits), so other GPUs report
 * nothing here and a deployment states the device's memory in WHETSTONE_GPU_MEMORY (training/memory-plan.ts).
 */
import { execFileSync } from 'node:child_process';

/** Runs a command, its stdout or null when it cannot run (missing, failed, timed out). */
export type Run = (command: string, args: readonly string[]) => string | null;

const MIB = 2 ** 20;

const runCommand: Run = (command, args) => {
  try {
    return execFileSync(command, [...args], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return null;
  }
};

/** "123 MiB" -> bytes; null for "N/A" and anything else. */
function mebibytes(text: string): number | null {
  const m = /^\s*(\d+)\s*MiB\s*$/.exec(text);
  return m ? Number(m[1]) * MIB : null;
}

/**
 * Bytes process `pid` holds on all GPUs of `nvidia-smi -q -x` output (its <process_info> entries, every type), or
 * null when it holds nothing there or the usage is not reported.
 */
export function processMemoryOf(xml: string, pid: number): number | null {
  let total: number | null = null;
  for (const [entry] of xml.matchAll(/<process_info>[\s\S]*?<\/process_info>/g)) {
    const owner = /<pid>\s*(\d+)\s*<\/pid>/.exec(entry)?.[1];
    const used = /<used_memory>([^<]*)<\/used_memory>/.exec(entry)?.[1];
    const bytes = used === undefined ? null : mebibytes(used);
    if (Number(owner) === pid && bytes !== null) total = (total ?? 0) + bytes;
  }
  return total;
}

/** Bytes this process (or `pid`) holds on NVIDIA GPUs now; null where that cannot be read (no nvidia-smi). */
export function processGpuMemory(pid = process.pid, run: Run = runCommand): number | null {
  const xml = run('nvidia-smi', ['-q', '-x']);
  return xml === null ? null : processMemoryOf(xml, pid);
}

/** Bytes free on the first NVIDIA GPU (the one the providers take); null where unknown. */
export function freeGpuMemory(run: Run = runCommand): number | null {
  const out = run('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits']);
  const first = out?.split('\n')[0]?.trim();
  return first && /^\d+$/.test(first) ? Number(first) * MIB : null;
}
