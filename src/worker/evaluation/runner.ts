/**
 * The child process that runs one evaluation: generation blocks this process's event loop, never the worker's.
 * It scores batch after batch and sends each batch's samples to the worker, and starts the next batch once the
 * worker has stored them, so it is never more than a batch ahead of the database and a stop request (always sent
 * before that acknowledgement) ends the run at the batch it arrived in. When the worker goes away, the IPC
 * channel closes and this process exits with it.
 */
import { runEvaluation } from '../../evaluation/run-evaluation';
import type { FromEvaluationRunner, ToEvaluationRunner } from './messages';

let stopRequested = false;
let finished = false;
let acknowledge: (() => void) | null = null;

function send(message: FromEvaluationRunner): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('the runner must be started with an IPC channel'));
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

async function run(spec: Extract<ToEvaluationRunner, { type: 'start' }>['spec']): Promise<void> {
  try {
    const { stopped } = await runEvaluation(spec, {
      onStart: (info) => send({ type: 'started', total: info.total, skipped: info.skipped.length }),
      onBatch: async (samples) => {
        const stored = new Promise<void>((resolve) => (acknowledge = resolve));
        await send({ type: 'samples', samples });
        await stored;
      },
      shouldStop: () => stopRequested,
    });
    await send({ type: 'done', stopped });
  } catch (err) {
    await send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
  finished = true;
  process.disconnect();
}

process.on('message', (message: ToEvaluationRunner) => {
  if (message.type === 'start') void run(message.spec);
  else if (message.type === 'stop') stopRequested = true;
  else acknowledge?.();
});
process.on('disconnect', () => process.exit(finished ? 0 : 1));
