import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeGpus } from '../../../src/engine/gpu-devices';

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-gpus-'));
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  return root;
}

test('names NVIDIA GPUs by model, other cards by PCI id, and a forced Vulkan driver', () => {
  const nvidia = tree({
    'driver/nvidia/gpus/0000:19:00.0/information': 'Model: \t\t NVIDIA H100 80GB HBM3\nIRQ: 0\n',
  });
  const sys = tree({
    'class/drm/card0/device/vendor': '0x1002\n',
    'class/drm/card0/device/device': '0x73bf\n',
    'class/drm/card0-DP-1/status': 'connected\n',
  });
  const empty = tree({});
  expect(describeGpus({ proc: nvidia, sys, env: {} })).toBe('NVIDIA H100 80GB HBM3');
  expect(describeGpus({ proc: empty, sys, env: {} })).toBe('PCI 0x1002:0x73bf');
  expect(describeGpus({ proc: empty, sys: empty, env: { VK_DRIVER_FILES: '/x/lvp_icd.json' } })).toBe(
    'none visible; Vulkan driver lvp_icd.json',
  );
  for (const d of [nvidia, sys, empty]) fs.rmSync(d, { recursive: true });
});
