/**
 * The child process that trains one job: it receives the spec over IPC, runs the engine, and reports steps and
 * checkpoints back. Training blocks this process's event loop, never the worker's, so Bull's lock renewal goes on.
 * When the worker goes away (killed), the IPC channel closes and this process exits with it.
 */
import { UserInputError } from '../../errors';
import { runTrainingJob } from '../../training/run-job';
import type { FromRunner, ToRunner } from './messages';

let stopRequested = false;
let finished = false;

function send(message: FromRunner): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('the runner must be started with an IPC channel'));
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

async function run(spec: Extract<ToRunner, { type: 'start' }>['spec']): Promise<void> {
  try {
    const result = await runTrainingJob(spec, {
      onStep: (event) => send({ type: 'step', event }),
      onCheckpoint: (checkpoint) => send({ type: 'checkpoint', checkpoint }),
      shouldStop: () => stopRequested,
    });
    await send({ type: 'done', finalCheckpoint: result.finalCheckpoint });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await send({ type: 'failed', message, userInput: err instanceof UserInputError });
  }
  finished = true;
  process.disconnect();
}

process.on('message', (message: ToRunner) => {
  if (message.type === 'start') void run(message.spec);
  else if (message.type === 'stop') stopRequested = true;
});
process.on('disconnect', () => process.exit(finished ? 0 : 1));
