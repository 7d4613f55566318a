/** How a job process that ended without a word is described: out of memory told apart from other deaths. */
import { AttemptOutcome } from '../../../src/db/entities';
import { describeExit, describeFailure, peakRss, watchMemory } from '../../../src/worker/exit-cause';

const MiB = 2 ** 20;

describe('exit causes', () => {
  it('names a SIGKILL that the cgroup counted as an OOM kill out of memory, with the memory evidence', () => {
    const c = describeExit(
      'training',
      { code: null, signal: 'SIGKILL' },
      { peakRssBytes: 900 * MiB, oomKills: 1, limitBytes: 1024 * MiB },
    );
    expect(c.outcome).toBe(AttemptOutcome.OUT_OF_MEMORY);
    expect(c.cause).toBe(
      "out of memory: the kernel's OOM killer ended the training process (SIGKILL; 1 OOM kill(s) recorded by its " +
        'cgroup during the run); peak resident memory 900 MiB, memory limit 1024 MiB',
    );
  });

  it('says when a SIGKILL was not the OOM killer, or cannot be told', () => {
    const none = { peakRssBytes: 300 * MiB, limitBytes: null };
    const other = describeExit('evaluation', { code: null, signal: 'SIGKILL' }, { ...none, oomKills: 0 });
    expect(other).toEqual({
      outcome: AttemptOutcome.CRASHED,
      cause:
        'the evaluation process was killed (SIGKILL; its cgroup recorded no OOM kill, so not the out-of-memory ' +
        'killer); peak resident memory 300 MiB',
    });
    const unknown = describeExit('training', { code: null, signal: 'SIGKILL' }, { ...none, oomKills: null });
    expect(unknown.cause).toMatch(/SIGKILL; no cgroup OOM counter to confirm/);
  });

  it('maps exit codes and other signals', () => {
    const e = { peakRssBytes: null, oomKills: 0, limitBytes: null };
    expect(describeExit('training', { code: 134, signal: null }, e).cause).toMatch(/aborted \(SIGABRT/);
    expect(describeExit('training', { code: null, signal: 'SIGSEGV' }, e).cause).toMatch(/SIGSEGV/);
    expect(describeExit('training', { code: 3, signal: null }, e).cause).toBe(
      'the training process exited with code 3 without reporting an end',
    );
  });

  it('names failed allocations reported by ONNX Runtime out of memory, and nothing else', () => {
    const ort = describeFailure(
      '[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer of size 4294967296',
    );
    expect(ort?.outcome).toBe(AttemptOutcome.OUT_OF_MEMORY);
    expect(ort?.cause).toMatch(
      /^out of memory: an allocation failed in the job's process \(\[ONNXRuntimeError\]/,
    );
    expect(describeFailure('std::bad_alloc')?.outcome).toBe(AttemptOutcome.OUT_OF_MEMORY);
    expect(describeFailure('no room for the prompt in a 128-token context')).toBeNull();
    expect(describeFailure('dataset row 3: missing "response"')).toBeNull();
  });

  it("reads a live process's peak memory from /proc", () => {
    expect(peakRss(process.pid)).toBeGreaterThan(10 * MiB);
    const watch = watchMemory(process.pid, 10);
    expect(watch.stop().peakRssBytes).toBeGreaterThan(10 * MiB);
  });
});
