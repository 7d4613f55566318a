import * as fs from 'node:fs';
import { run as generate } from '../../../src/cli/commands/generate';
import { run as loss } from '../../../src/cli/commands/loss';
import { SafetensorsReader } from '../../../src/models/safetensors';
import { hfTiny } from '../../helpers/fixtures';

/** What a command printed on stdout. */
async function captured(command: (argv: string[]) => Promise<void>, argv: string[]): Promise<string> {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await command(argv);
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

const MODEL = hfTiny('llama-tiny');
const texts: string[] = JSON.parse(fs.readFileSync(hfTiny('tokenizer_reference.json'), 'utf8')).texts.slice(
  0,
  3,
);
const ref = SafetensorsReader.open(hfTiny('llama-tiny', 'reference.safetensors'));

describe('whetstone loss', () => {
  it('prints the reference loss of the three texts, over every predicted token', async () => {
    const out = JSON.parse(
      await captured(loss, [
        '--model',
        MODEL,
        ...texts.flatMap((t) => ['--text', t]),
        '--json',
        '--per-token',
      ]),
    );
    expect(Math.abs(out.loss - ref.float32('loss')[0])).toBeLessThan(1e-5);
    const mask = ref.integers('attention_mask');
    expect(out.tokens).toBe(mask.reduce((s, v) => s + v, 0) - 3);
    expect(out.tokenLosses.map((l: number[]) => l.length)).toEqual(
      [0, 1, 2].map((b) => mask.slice(b * 35, (b + 1) * 35).reduce((s, v) => s + v, 0) - 1),
    );
  });

  it('names a missing model folder', async () => {
    await expect(loss(['--model', '/nonexistent/model', '--text', 'x'])).rejects.toThrow(
      /nonexistent\/model/,
    );
  });
});

describe('whetstone generate', () => {
  it('--prompt-ids with --greedy --no-eos-stop prints generate_greedy16 and its text', async () => {
    const prompt = ref.integers('generate_prompt');
    const out = JSON.parse(
      await captured(generate, [
        '--model',
        MODEL,
        '--prompt-ids',
        prompt.join(','),
        '--max-new-tokens',
        '16',
        '--greedy',
        '--no-eos-stop',
        '--json',
      ]),
    );
    expect(out.ids).toEqual(ref.integers('generate_greedy16'));
    expect(typeof out.text).toBe('string');
  });

  it('--prompt adds BOS as the tokenizer does; sampling with a seed repeats itself', async () => {
    const argv = [
      '--model',
      MODEL,
      '--prompt',
      texts[0],
      '--max-new-tokens',
      '5',
      '--temperature',
      '0.8',
      '--top-p',
      '0.9',
      '--seed',
      '3',
      '--json',
    ];
    const a = JSON.parse(await captured(generate, argv));
    expect(a.ids[0]).toBe(1);
    expect(JSON.parse(await captured(generate, argv))).toEqual(a);
  });

  it('rejects contradictory or malformed flags with the flag named', async () => {
    await expect(
      generate(['--model', MODEL, '--prompt', 'x', '--max-new-tokens', '2', '--greedy', '--seed', '1']),
    ).rejects.toThrow(/--greedy cannot be combined with --seed/);
    await expect(
      generate(['--model', MODEL, '--prompt-ids', '1,x', '--max-new-tokens', '2']),
    ).rejects.toThrow(/--prompt-ids: item 2/);
    await expect(generate(['--model', MODEL, '--prompt', 'x'])).rejects.toThrow(
      /--max-new-tokens is required/,
    );
  });
});

describe('execution provider flags (generate, loss)', () => {
  const args = ['--model', MODEL, '--text', texts[0], '--json'];

  it('rejects an unknown provider and both spellings at once, naming --ep', async () => {
    await expect(loss([...args, '--ep', 'gpu'])).rejects.toMatchObject({
      name: 'UserInputError',
      message: '--ep must be one of cpu, webgpu, cuda, got "gpu"',
    });
    await expect(loss([...args, '--ep', 'cpu', '--execution-provider', 'cpu'])).rejects.toThrow(
      'give --ep or --execution-provider, not both',
    );
  });

  it('--ep webgpu gives the CPU loss where a GPU adapter exists, else an UnavailableError saying none was found', async () => {
    const cpu = JSON.parse(await captured(loss, [...args, '--ep', 'cpu']));
    expect(JSON.parse(await captured(loss, [...args, '--execution-provider', 'cpu']))).toEqual(cpu);
    const gpu = await captured(loss, [...args, '--ep', 'webgpu']).then(
      (out) => JSON.parse(out) as { loss: number },
      (err: Error) => err,
    );
    if (gpu instanceof Error) {
      expect(gpu.name).toBe('UnavailableError');
      expect(gpu.message).toMatch(/execution provider 'webgpu' is unavailable: no GPU adapter found/);
    } else {
      expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-5);
    }
  });
});
