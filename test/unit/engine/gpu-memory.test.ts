import { freeGpuMemory, processGpuMemory, processMemoryOf } from '../../../src/engine/gpu-memory';

const MIB = 2 ** 20;

/** The <processes> part of `nvidia-smi -q -x` (two GPUs; a Vulkan context is type G, CUDA's C). */
const XML = `<?xml version="1.0" ?>
<nvidia_smi_log>
  <gpu id="00000000:19:00.0">
    <processes>
      <process_info>
        <gpu_instance_id>N/A</gpu_instance_id>
        <compute_instance_id>N/A</compute_instance_id>
        <pid>4242</pid>
        <type>G</type>
        <process_name>node</process_name>
        <used_memory>1536 MiB</used_memory>
      </process_info>
      <process_info>
        <pid>77</pid>
        <type>C</type>
        <process_name>python</process_name>
        <used_memory>9000 MiB</used_memory>
      </process_info>
    </processes>
  </gpu>
  <gpu id="00000000:2A:00.0">
    <processes>
      <process_info>
        <pid>4242</pid>
        <type>C</type>
        <used_memory>512 MiB</used_memory>
      </process_info>
      <process_info>
        <pid>5</pid>
        <type>C</type>
        <used_memory>N/A</used_memory>
      </process_info>
    </processes>
  </gpu>
</nvidia_smi_log>`;

test("a process's GPU memory is the sum of its entries on every GPU; none, or not reported, is null", () => {
  expect(processMemoryOf(XML, 4242)).toBe(2048 * MIB);
  expect(processMemoryOf(XML, 77)).toBe(9000 * MIB);
  expect(processMemoryOf(XML, 5)).toBeNull();
  expect(processMemoryOf(XML, 1)).toBeNull();
});

test('nvidia-smi is asked for the process and the free memory; without it both are null', () => {
  const calls: string[][] = [];
  const run = (command: string, args: readonly string[]) => {
    calls.push([command, ...args]);
    return args[0] === '-q' ? XML : '81037\n80000\n';
  };
  expect(processGpuMemory(4242, run)).toBe(2048 * MIB);
  expect(freeGpuMemory(run)).toBe(81037 * MIB);
  expect(calls.map((c) => c.join(' '))).toEqual([
    'nvidia-smi -q -x',
    'nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits',
  ]);
  expect(processGpuMemory(4242, () => null)).toBeNull();
  expect(freeGpuMemory(() => null)).toBeNull();
  expect(freeGpuMemory(() => '[N/A]\n')).toBeNull();
});
