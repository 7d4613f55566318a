/**
 * Running PyTorch peers of a benchmark in the same run: finds a python3 that imports torch (Debian's
 * /usr/bin/python3 first) and runs a peer script from ../shared/bench, parsing its one JSON line.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A python3 that can `import torch`, or null. */
export function torchPython(): string | null {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return python;
  }
  return null;
}

/** ../shared/bench/<name> from the repo root (the current directory of `npm run`). */
export function peerScript(name: string): string | null {
  const file = path.resolve(process.cwd(), '../shared/bench', name);
  return fs.existsSync(file) ? file : null;
}

/** Run a peer script; its last stdout line is JSON. Null (with the reason on stderr) when it cannot run. */
export function runPeer(script: string, args: string[], timeoutMs = 600_000): Record<string, unknown> | null {
  const python = torchPython();
  if (!python) {
    process.stderr.write('peer skipped: no python3 with torch\n');
    return null;
  }
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8', timeout: timeoutMs });
  const last = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !last) {
    process.stderr.write(`peer failed (${r.status ?? r.signal}): ${r.stderr?.slice(-2000)}\n`);
    return null;
  }
  return JSON.parse(last) as Record<string, unknown>;
}
