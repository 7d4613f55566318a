/**
 * A clone has what its tests and readers need: the fixtures are read from the repository, no test source names a
 * path beside it (they used to read the team's shared fixtures folder next to the clone), and the documentation's
 * relative links lead to files in it (the README linked to the shared docs folder).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HF_TINY, hfTiny } from '../../helpers/fixtures';

const ROOT = path.resolve(__dirname, '../../..');
const tracked = (...patterns: string[]): string[] =>
  execFileSync('git', ['ls-files', '-z', '--', ...patterns], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
const inside = (file: string) => !path.relative(ROOT, file).startsWith('..');

describe('a clone of the repository', () => {
  it('reads the fixtures from the repository', () => {
    expect(inside(HF_TINY)).toBe(true);
    expect(fs.existsSync(hfTiny('llama-tiny', 'config.json'))).toBe(true);
  });

  it('has no test source that names a path beside the repository', () => {
    // Spelled in two parts so this file does not match itself.
    const beside = new RegExp(['\\.\\.', 'shared\\b'].join('/'));
    const naming = tracked('test/**/*.ts', 'test/**/*.js', 'test/**/*.py').filter((f) =>
      beside.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(naming).toEqual([]);
  });

  it("has documentation whose relative links lead to the repository's own files", () => {
    const outside: string[] = [];
    for (const doc of tracked('*.md')) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s#]+)[^)]*\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue;
        const file = path.resolve(ROOT, path.dirname(doc), target);
        if (!inside(file) || !fs.existsSync(file)) outside.push(`${doc}: ${target}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
