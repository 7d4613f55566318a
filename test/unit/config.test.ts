/**
 * The queue's defaults bound the takeover of a dead worker's job (lock + stalled-check interval, the bound the e2e
 * takeover test checks with small settings) by the 30 s the README documents (they used to allow 30 + 30 s).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

describe('configuration defaults', () => {
  it("take a dead worker's job over within the worst case the README documents", () => {
    const { queueLockMs, queueStalledIntervalMs } = loadConfig({});
    expect(queueLockMs + queueStalledIntervalMs).toBeLessThanOrEqual(30_000);
    const documented = /worst case with the\s+defaults: (\d+) \+ (\d+) = (\d+) s/.exec(README);
    expect(documented?.slice(1).map(Number)).toEqual(
      [queueLockMs, queueStalledIntervalMs, queueLockMs + queueStalledIntervalMs].map((ms) => ms / 1000),
    );
  });
});
