/**
 * A module to start in a child process or a worker thread: the compiled JavaScript as it is, or the TypeScript
 * source through tsx when this code runs from its sources (tests, `npm run dev`).
 */
const fromSources = __filename.endsWith('.ts');

/** `modulePath` without extension: the file to start and the Node options it needs. */
export function runnableModule(modulePath: string): { file: string; execArgv: string[] } {
  return fromSources
    ? { file: `${modulePath}.ts`, execArgv: ['--require', 'tsx/cjs'] }
    : { file: `${modulePath}.js`, execArgv: [] };
}
