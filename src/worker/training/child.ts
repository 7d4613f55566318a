/**
 * Starts a runner in a child process: compiled JavaScript as is, TypeScript sources (tests, dev) through tsx.
 * `runnerModule` is a module path without extension (default: the training runner beside this file).
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export function forkRunner(runnerModule = path.join(__dirname, 'runner')): ChildProcess {
  const fromSources = __filename.endsWith('.ts');
  const runner = runnerModule + (fromSources ? '.ts' : '.js');
  return fork(runner, [], {
    execArgv: fromSources ? ['--require', 'tsx/cjs'] : [],
    // Rows and metrics are plain JSON, but structured clone spares a JSON round trip of large datasets.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
