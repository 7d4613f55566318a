/**
 * `npm run worker`: a worker process. SIGTERM or SIGINT: running training checkpoints and goes back to the queue,
 * then the process exits.
 */
import 'reflect-metadata';
import { loadConfig } from '../config';
import { startWorker } from './worker';

async function main(): Promise<void> {
  const worker = await startWorker(loadConfig());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[worker] ${signal}: stopping`);
    worker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('[worker] shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('[worker] failed to start:', err);
  process.exit(1);
});
