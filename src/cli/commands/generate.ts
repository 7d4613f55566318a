/**
 * `whetstone generate --model DIR [--adapter DIR] (--prompt TEXT | --prompt-ids 1,2,3) --max-new-tokens N
 *  [--greedy | --temperature T --top-p P --seed S] [--no-eos-stop] [--json]`
 * Greedy unless a sampling option is given. --prompt is encoded as the tokenizer's single-text encoding (BOS
 * included where the tokenizer adds one); --prompt-ids are used as given. Prints the text of all ids, prompt
 * included; with --json `{"ids": [...], "text": "..."}`.
 */
import { UserInputError } from '../../errors';
import { decodeText, Generator } from '../../models/generate';
import { loadAdapter, loadModel } from '../../models/model';
import { intOption, numberOption, parseOrExplain, PROVIDER_FLAGS, providerOption } from './model-options';

const USAGE =
  'usage: whetstone generate --model DIR [--adapter DIR] (--prompt TEXT | --prompt-ids 1,2,3) --max-new-tokens N ' +
  '[--greedy | --temperature T --top-p P --seed S] [--no-eos-stop] [--json] [--ep cpu|webgpu|cuda] [--threads N]';

export async function run(argv: string[]): Promise<void> {
  const values = parseOrExplain(
    argv,
    {
      model: { type: 'string' },
      adapter: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-ids': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      greedy: { type: 'boolean' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      'no-eos-stop': { type: 'boolean' },
      json: { type: 'boolean' },
      ...PROVIDER_FLAGS,
      threads: { type: 'string' },
    },
    USAGE,
  );
  if (!values.model) throw new UserInputError(`--model is required\n${USAGE}`, ['--model']);
  if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) {
    throw new UserInputError(`give exactly one of --prompt and --prompt-ids\n${USAGE}`, ['--prompt']);
  }
  const maxNewTokens = intOption(values['max-new-tokens'], '--max-new-tokens', { min: 1 });
  if (maxNewTokens === undefined)
    throw new UserInputError(`--max-new-tokens is required\n${USAGE}`, ['--max-new-tokens']);
  const sampled = ['temperature', 'top-p', 'seed'].filter((k) => values[k as 'seed'] !== undefined);
  if (values.greedy && sampled.length) {
    throw new UserInputError(`--greedy cannot be combined with --${sampled.join(', --')}`, ['--greedy']);
  }
  const temperature = numberOption(values.temperature, '--temperature', { above: 0 }) ?? 1;
  const topP = numberOption(values['top-p'], '--top-p', { above: 0, max: 1 }) ?? 1;
  const seed = intOption(values.seed, '--seed', { min: 0, max: 0xffffffff }) ?? 0;

  const model = await loadModel(values.model);
  const adapter = values.adapter ? loadAdapter(values.adapter, model) : undefined;
  const prompt =
    values.prompt !== undefined
      ? model.tokenizer.encode(values.prompt)
      : parseIds(values['prompt-ids']!, model.config.vocabSize);
  if (prompt.length === 0) throw new UserInputError('the prompt encodes to no tokens', ['--prompt']);

  const generator = new Generator(model, {
    adapter,
    executionProvider: providerOption(values),
    threads: intOption(values.threads, '--threads', { min: 1 }),
  });
  try {
    const { sequences } = await generator.generate({
      prompts: [prompt],
      maxNewTokens,
      sampling: sampled.length ? { temperature, topP, seed } : undefined,
      eosTokenIds: values['no-eos-stop'] ? [] : undefined,
    });
    const ids = sequences[0];
    const text = decodeText(model, ids);
    process.stdout.write(values.json ? JSON.stringify({ ids, text }) + '\n' : text + '\n');
  } finally {
    await generator.release();
  }
}

function parseIds(list: string, vocab: number): number[] {
  const parts = list.split(',').map((s) => s.trim());
  return parts.map((s, i) => {
    const id = Number(s);
    if (!/^\d+$/.test(s) || id >= vocab) {
      throw new UserInputError(
        `--prompt-ids: item ${i + 1} (${JSON.stringify(s)}) is not a token id below ${vocab}`,
        ['--prompt-ids'],
      );
    }
    return id;
  });
}
