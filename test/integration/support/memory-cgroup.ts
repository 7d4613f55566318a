/**
 * A memory cgroup of its own for a test's child process, so that the kernel's out-of-memory killer really ends it:
 * a sub-cgroup of this process's memory cgroup (cgroup v1 `memory` hierarchy, or cgroup v2 with the memory
 * controller delegated), whose limit the test sets. Creating one needs write access to the cgroup filesystem
 * (root, or a delegated subtree); where that is missing, `createMemoryCgroup` says why instead.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface MemoryCgroup {
  dir: string;
  /** Moves a process into the cgroup (its later allocations are charged to it). */
  add(pid: number): void;
  /** Memory charged to the cgroup now, and the most it has been charged. */
  usageBytes(): number;
  peakBytes(): number;
  setLimit(bytes: number): void;
  /** Removes the cgroup (its processes must have exited). */
  remove(): void;
}

interface Layout {
  parent: string;
  limitFile: string;
  usageFile: string;
  peakFile: string;
}

/** Where this process's memory cgroup is, and the names of its files; a reason when there is none to use. */
function layout(root: string): Layout | string {
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (v1) {
    const parent = path.join(root, 'memory', v1.slice(v1.lastIndexOf(':') + 1));
    return {
      parent,
      limitFile: 'memory.limit_in_bytes',
      usageFile: 'memory.usage_in_bytes',
      peakFile: 'memory.max_usage_in_bytes',
    };
  }
  const unified = lines.find((l) => l.startsWith('0::'));
  if (!unified) return 'no memory cgroup in /proc/self/cgroup';
  const parent = path.join(root, unified.slice(3));
  const controllers = fs.readFileSync(path.join(parent, 'cgroup.controllers'), 'utf8');
  if (!controllers.split(/\s+/).includes('memory'))
    return `cgroup v2 ${parent} has no memory controller (cgroup.controllers: "${controllers.trim()}")`;
  // v2 lets a cgroup's children use a controller only once it is enabled for them.
  fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), '+memory');
  return { parent, limitFile: 'memory.max', usageFile: 'memory.current', peakFile: 'memory.peak' };
}

export function createMemoryCgroup(name: string, root = '/sys/fs/cgroup'): MemoryCgroup | { reason: string } {
  let where: Layout | string;
  try {
    where = layout(root);
  } catch (err) {
    return { reason: `cannot prepare a memory cgroup: ${(err as Error).message}` };
  }
  if (typeof where === 'string') return { reason: where };
  const dir = path.join(where.parent, `${name}-${process.pid}`);
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    return { reason: `cannot create a memory cgroup under ${where.parent}: ${(err as Error).message}` };
  }
  const { limitFile, usageFile, peakFile } = where;
  const bytes = (file: string) => Number(fs.readFileSync(path.join(dir, file), 'utf8'));
  return {
    dir,
    add: (pid) => fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)),
    usageBytes: () => bytes(usageFile),
    peakBytes: () => bytes(peakFile),
    setLimit: (bytes) => fs.writeFileSync(path.join(dir, limitFile), String(bytes)),
    remove: () => fs.rmdirSync(dir),
  };
}
