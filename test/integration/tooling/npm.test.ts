/** npm commands in this repository print no configuration warning (an unknown `.npmrc` key warned on every one). */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

describe('npm in this repository', () => {
  it('warns about no project configuration', () => {
    const run = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('"whetstone"');
    expect(run.stderr).not.toMatch(/Unknown (project|user|global) config/);
  });

  it("denies onnxruntime-node's download script, so npm ci needs no network", () => {
    const allow = JSON.parse(
      execFileSync('npm', ['pkg', 'get', 'allowScripts'], { cwd: ROOT, encoding: 'utf8' }),
    ) as Record<string, boolean>;
    expect(allow['onnxruntime-node']).toBe(false);
  });
});
