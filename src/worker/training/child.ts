/** Starts the runner in a child process: compiled JavaScript as is, TypeScript sources (tests, dev) through tsx. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export function forkRunner(): ChildProcess {
  const fromSources = __filename.endsWith('.ts');
  const runner = path.join(__dirname, fromSources ? 'runner.ts' : 'runner.js');
  return fork(runner, [], {
    execArgv: fromSources ? ['--require', 'tsx/cjs'] : [],
    // Rows and metrics are plain JSON, but structured clone spares a JSON round trip of large datasets.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
