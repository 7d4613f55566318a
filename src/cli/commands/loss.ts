/**
 * `whetstone loss --model DIR [--adapter DIR] --text T [--text T ...] [--json] [--per-token]`
 * Each text is encoded as the tokenizer's single-text encoding; prints the mean next-token cross-entropy over all
 * predicted tokens of all texts together. --json: `{"loss": x, "tokens": n}`; --per-token adds "tokenLosses"
 * (per text, the loss of each predicted token in order).
 */
import { UserInputError } from '../../errors';
import { meanLoss, tokenLosses } from '../../models/forward';
import { loadAdapter, loadModel } from '../../models/model';
import { intOption, parseOrExplain, PROVIDER_FLAGS, providerOption } from './model-options';

const USAGE =
  'usage: whetstone loss --model DIR [--adapter DIR] --text T [--text T ...] [--json] [--per-token] ' +
  '[--ep cpu|webgpu|cuda] [--threads N]';

export async function run(argv: string[]): Promise<void> {
  const values = parseOrExplain(
    argv,
    {
      model: { type: 'string' },
      adapter: { type: 'string' },
      text: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      'per-token': { type: 'boolean' },
      ...PROVIDER_FLAGS,
      threads: { type: 'string' },
    },
    USAGE,
  );
  if (!values.model) throw new UserInputError(`--model is required\n${USAGE}`, ['--model']);
  const texts = values.text ?? [];
  if (texts.length === 0) throw new UserInputError(`give at least one --text\n${USAGE}`, ['--text']);
  const model = await loadModel(values.model);
  const adapter = values.adapter ? loadAdapter(values.adapter, model) : undefined;
  const sequences = texts.map((t) => model.tokenizer.encode(t));
  const losses = await tokenLosses(model, sequences, {
    adapter,
    executionProvider: providerOption(values),
    threads: intOption(values.threads, '--threads', { min: 1 }),
  });
  const { loss, tokens } = meanLoss(losses);
  if (tokens === 0)
    throw new UserInputError('the texts give no token to predict (each needs at least two tokens)', [
      '--text',
    ]);
  if (values.json) {
    process.stdout.write(
      JSON.stringify({ loss, tokens, ...(values['per-token'] ? { tokenLosses: losses } : {}) }) + '\n',
    );
  } else {
    process.stdout.write(`loss ${loss.toFixed(6)} over ${tokens} tokens\n`);
    if (values['per-token'])
      losses.forEach((l, i) =>
        process.stdout.write(`text ${i + 1}: ${l.map((v) => v.toFixed(4)).join(' ')}\n`),
      );
  }
}
