/**
 * Why a job's process ended without reporting an end, in words a user can act on. A process the kernel's
 * out-of-memory killer ended dies of SIGKILL, like any other SIGKILL; the cgroup's OOM-kill counter (cgroup v2
 * `memory.events`, v1 `memory.oom_control`) rising during the run tells them apart, and the process's peak
 * resident memory (sampled from /proc) and the cgroup's limit say how close it came.
 */
import { readFileSync } from 'node:fs';
import { AttemptOutcome } from '../db/entities';

export interface MemoryEvidence {
  /** Peak resident memory of the process (VmHWM), from the last sample before it died. */
  peakRssBytes: number | null;
  /** OOM kills in this cgroup while the process ran; null where the cgroup does not say. */
  oomKills: number | null;
  /** The cgroup's memory limit; null when unlimited or unknown. */
  limitBytes: number | null;
}

export interface ExitCause {
  outcome: AttemptOutcome.CRASHED | AttemptOutcome.OUT_OF_MEMORY;
  cause: string;
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

function memoryFacts(e: MemoryEvidence): string {
  const facts = [];
  if (e.peakRssBytes !== null) facts.push(`peak resident memory ${mib(e.peakRssBytes)}`);
  if (e.limitBytes !== null) facts.push(`memory limit ${mib(e.limitBytes)}`);
  return facts.join(', ');
}

/** The cause of a process that exited without reporting how its run ended. */
export function describeExit(
  processName: string,
  exit: { code: number | null; signal: string | null },
  evidence: MemoryEvidence,
): ExitCause {
  const facts = memoryFacts(evidence);
  const withFacts = (s: string) => (facts ? `${s}; ${facts}` : s);
  if (exit.signal === 'SIGKILL') {
    if (evidence.oomKills !== null && evidence.oomKills > 0) {
      return {
        outcome: AttemptOutcome.OUT_OF_MEMORY,
        cause: withFacts(
          `out of memory: the kernel's OOM killer ended the ${processName} process (SIGKILL; ` +
            `${evidence.oomKills} OOM kill(s) recorded by its cgroup during the run)`,
        ),
      };
    }
    const check =
      evidence.oomKills === null
        ? 'no cgroup OOM counter to confirm whether it was the out-of-memory killer'
        : 'its cgroup recorded no OOM kill, so not the out-of-memory killer';
    return {
      outcome: AttemptOutcome.CRASHED,
      cause: withFacts(`the ${processName} process was killed (SIGKILL; ${check})`),
    };
  }
  const how =
    exit.signal === 'SIGABRT' || exit.code === 134
      ? 'aborted (SIGABRT: native code gave up, e.g. std::bad_alloc or a failed ONNX Runtime check)'
      : exit.signal === 'SIGSEGV' || exit.code === 139
        ? 'crashed (SIGSEGV: a memory fault in native code)'
        : exit.signal
          ? `ended by ${exit.signal}`
          : `exited with code ${exit.code} without reporting an end`;
  return { outcome: AttemptOutcome.CRASHED, cause: withFacts(`the ${processName} process ${how}`) };
}

/** ONNX Runtime's, V8's and the GPU providers' ways of saying an allocation failed. */
const ALLOCATION_FAILED =
  /bad_alloc|failed to allocate|out of memory|allocation failed|cannot allocate memory|ENOMEM|\bOOM\b/i;

/** An error the process reported that is an allocation failure, named as out of memory; null otherwise. */
export function describeFailure(message: string): ExitCause | null {
  if (!ALLOCATION_FAILED.test(message)) return null;
  const raw = message.length > 300 ? `${message.slice(0, 300)}…` : message;
  return {
    outcome: AttemptOutcome.OUT_OF_MEMORY,
    cause: `out of memory: an allocation failed in the job's process (${raw})`,
  };
}

/**
 * The memory cgroup of process `pid`: OOM-kill counter and limit, read when asked (both change during a run). A
 * job process is watched in its own cgroup, not the worker's: cgroup v1 counts an OOM kill only in the cgroup of
 * the killed process, so a deployment that gives job processes a cgroup of their own is told apart too.
 */
export function memoryCgroup(
  pid: number,
  root = '/sys/fs/cgroup',
): {
  oomKills(): number | null;
  limitBytes(): number | null;
} {
  let dir: string | null = null;
  let v2 = false;
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    if (v1) dir = `${root}/memory${v1.slice(v1.lastIndexOf(':') + 1)}`;
    else {
      const unified = lines.find((l) => l.startsWith('0::'));
      if (unified) [dir, v2] = [`${root}${unified.slice(3)}`, true];
    }
  } catch {
    dir = null;
  }
  const read = (file: string): string | null => {
    try {
      return dir ? readFileSync(`${dir}/${file}`, 'utf8') : null;
    } catch {
      return null;
    }
  };
  return {
    oomKills: () => {
      // v2's memory.events counts the kills of every cgroup below too (another job's, a test's own limited
      // cgroup): memory.events.local (Linux 5.2) counts this cgroup's only.
      const text = v2 ? (read('memory.events.local') ?? read('memory.events')) : read('memory.oom_control');
      const m = text?.match(/^oom_kill (\d+)$/m);
      return m ? Number(m[1]) : null;
    },
    limitBytes: () => {
      const text = read(v2 ? 'memory.max' : 'memory.limit_in_bytes')?.trim();
      const limit = text && /^\d+$/.test(text) ? Number(text) : null;
      // v1 says "unlimited" with a huge page-aligned number (v2 with "max").
      return limit !== null && limit < 2 ** 60 ? limit : null;
    },
  };
}

/** Peak resident memory of a live process, from /proc; null when it cannot be read (gone, or not Linux). */
export function peakRss(pid: number): number | null {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB$/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Samples a running process's peak memory and its cgroup's OOM kills (the cgroup it is in when the watch starts),
 * for `describeExit` once it is gone.
 */
export function watchMemory(pid: number, everyMs = 1000): { stop(): MemoryEvidence } {
  const cgroup = memoryCgroup(pid);
  const killsBefore = cgroup.oomKills();
  let peak = peakRss(pid);
  const timer = setInterval(() => (peak = peakRss(pid) ?? peak), everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      const killsAfter = cgroup.oomKills();
      return {
        peakRssBytes: peak,
        oomKills: killsBefore === null || killsAfter === null ? null : killsAfter - killsBefore,
        limitBytes: cgroup.limitBytes(),
      };
    },
  };
}
