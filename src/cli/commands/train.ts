/**
 * `whetstone train --config FILE [--resume DIR]`: fine-tunes as the config says. On a terminal it draws a
 * progress bar on stderr; otherwise every event is one JSON line on stdout
 * (`{"event":"start"|"step"|"checkpoint"|"done", ...}`). Ctrl-C stops after the current step with a checkpoint.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { UserInputError } from '../../errors';
import { loadTrainConfig } from '../../training/config-file';
import { readDatasetFile } from '../../data';
import { findMethod } from '../../training/methods';
import { progressBar, stepJsonLine } from '../../training/progress';
import { runTraining } from '../../training/run';

const USAGE = 'usage: whetstone train --config FILE [--resume CHECKPOINT_DIR] [--json]';

export async function run(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, resume: { type: 'string' }, json: { type: 'boolean' } },
    }));
  } catch (err) {
    throw new UserInputError(`${(err as Error).message}\n${USAGE}`, ['argv']);
  }
  if (!values.config) throw new UserInputError(`--config is required\n${USAGE}`, ['--config']);
  const config = loadTrainConfig(values.config);
  if (values.resume) {
    if (!fs.existsSync(values.resume))
      throw new UserInputError(`--resume: ${values.resume} does not exist`, ['--resume']);
    config.resumeFrom = values.resume;
  }
  const method = findMethod(config.method)!; // checked when the config was read
  const rows = readDatasetFile(config.dataset, method.datasetKind);

  const bar = process.stderr.isTTY && !values.json;
  const emit = (obj: Record<string, unknown>) => process.stdout.write(JSON.stringify(obj) + '\n');
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nstopping after this step (Ctrl-C again to abort)\n');
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await runTraining(
      {
        method,
        parameterScale: config.parameterScale,
        modelPath: config.model,
        rows,
        template: config.template,
        initAdapter: config.initAdapter,
        hyperparameters: config.hyperparameters,
        output: config.output,
        resumeFrom: config.resumeFrom,
        executionProvider: config.executionProvider,
        threads: config.threads,
      },
      {
        onStart: (info) => {
          if (bar) {
            process.stderr.write(
              `training ${info.examples} examples for ${info.totalSteps} steps` +
                (info.resumedAt ? ` (resuming at step ${info.resumedAt})` : '') +
                (info.skipped ? `, ${info.skipped} rows skipped` : '') +
                '\n',
            );
          } else emit({ event: 'start', ...info });
        },
        onStep: (e) => {
          if (bar) process.stderr.write(`\r${progressBar(e)}\x1b[K`);
          else process.stdout.write(stepJsonLine(e) + '\n');
        },
        onCheckpoint: (c) => {
          if (bar) process.stderr.write(`\ncheckpoint at step ${c.step}: ${c.path}\n`);
          else emit({ event: 'checkpoint', step: c.step, path: c.path });
        },
        shouldStop: () => stop,
      },
    );
    if (bar) process.stderr.write(`${result.stopped ? 'stopped' : 'done'}: ${result.finalCheckpoint}\n`);
    else emit({ event: 'done', ...result });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
