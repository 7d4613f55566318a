/**
 * The GPUs this machine shows, in words, for logs next to the execution provider. onnxruntime-node does not expose
 * the adapter Dawn picks (its WebGPU provider takes the first high-performance one), so this reads what the OS
 * shows: NVIDIA's driver (/proc/driver/nvidia/gpus/<bus>/information, "Model:"), else the PCI ids of the DRM cards;
 * and the Vulkan driver file when one is forced (VK_DRIVER_FILES, e.g. lavapipe's software adapter).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface GpuRoots {
  proc: string;
  sys: string;
  env: NodeJS.ProcessEnv;
}

const SYSTEM: GpuRoots = { proc: '/proc', sys: '/sys', env: process.env };

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function nvidiaModels(root: string): string[] {
  const dir = path.join(root, 'driver/nvidia/gpus');
  return list(dir).flatMap((bus) => {
    const model = /^Model:\s*(.+)$/m.exec(read(path.join(dir, bus, 'information')) ?? '')?.[1]?.trim();
    return model ? [model] : [];
  });
}

/** PCI vendor:device of each DRM card (cardN, not its connectors). */
function drmCards(root: string): string[] {
  const dir = path.join(root, 'class/drm');
  return list(dir)
    .filter((name) => /^card\d+$/.test(name))
    .flatMap((card) => {
      const id = (file: string) => read(path.join(dir, card, 'device', file))?.trim();
      const [vendor, device] = [id('vendor'), id('device')];
      return vendor && device ? [`PCI ${vendor}:${device}`] : [];
    });
}

/** e.g. "NVIDIA H100 80GB HBM3", "PCI 0x1002:0x73bf", "none visible; Vulkan driver lvp_icd.json". */
export function describeGpus(roots: GpuRoots = SYSTEM): string {
  const nvidia = nvidiaModels(roots.proc);
  const gpus = nvidia.length ? nvidia : drmCards(roots.sys);
  const forced = roots.env.VK_DRIVER_FILES;
  return [
    gpus.length ? gpus.join(', ') : 'none visible',
    ...(forced ? [`Vulkan driver ${path.basename(forced)}`] : []),
  ].join('; ');
}
