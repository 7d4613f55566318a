/**
 * The `whetstone` command line. Each subcommand lives in `commands/<name>.ts` and exports `run(argv)`.
 * Commands are loaded lazily so that `whetstone metrics` does not pay for onnxruntime start-up.
 */
import { UserInputError } from '../errors';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> }> };

const commands: Record<string, Command> = {
  train: { summary: 'fine-tune a model as a config file says', load: () => import('./commands/train') },
  generate: {
    summary: 'generate text with a model (and adapter), greedy or sampled, with a KV cache',
    load: () => import('./commands/generate'),
  },
  loss: {
    summary: 'mean next-token cross-entropy of texts under a model',
    load: () => import('./commands/loss'),
  },
  metrics: {
    summary: 'score predictions against references (accuracy, F1, ROUGE, BLEU-4)',
    load: () => import('./commands/metrics'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: whetstone <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(usage());
    process.exitCode = name && name !== '--help' ? 2 : 0;
    return;
  }
  await (await command.load()).run(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`whetstone: ${message}\n`);
  process.exitCode = err instanceof UserInputError ? 2 : 1;
});
