/**
 * `whetstone metrics --input FILE.jsonl [--segmenter jieba|whitespace|char] [--stopwords default|none|PATH]
 * [--per-sample]`: scores `{"prediction", "reference"}` lines and prints one JSON object with the set's means
 * (and, with --per-sample, every line's scores in input order). A stop-word PATH holds one word per line.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { UserInputError } from '../../errors';
import { SampleScores, aggregate, scoreSample } from '../../evaluation/metrics';
import { SEGMENTERS, StopwordsOption, TokenizeOptions, isSegmenter } from '../../evaluation/text';

const USAGE =
  'usage: whetstone metrics --input FILE.jsonl [--segmenter jieba|whitespace|char] ' +
  '[--stopwords default|none|PATH] [--per-sample]';

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserInputError(`${flag}: cannot read ${file}: ${(err as Error).message}`, [flag]);
  }
}

function stopwordsOption(value: string): StopwordsOption {
  if (value === 'default' || value === 'none') return value;
  return readText(value, '--stopwords').split(/\r?\n/);
}

/** One input line as a pair of strings; anything else is an error naming the file, line and field. */
function parsePair(
  file: string,
  line: string,
  lineNumber: number,
): { prediction: string; reference: string } {
  const where = `${file} line ${lineNumber}`;
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (err) {
    throw new UserInputError(`${where}: not valid JSON (${(err as Error).message})`, [
      'line',
      String(lineNumber),
    ]);
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new UserInputError(`${where}: expected an object {"prediction": ..., "reference": ...}`, [
      'line',
      String(lineNumber),
    ]);
  }
  const fields = row as Record<string, unknown>;
  for (const field of ['prediction', 'reference']) {
    if (typeof fields[field] !== 'string') {
      throw new UserInputError(`${where}: "${field}" must be a string`, ['line', String(lineNumber), field]);
    }
  }
  return { prediction: fields.prediction as string, reference: fields.reference as string };
}

export async function run(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        input: { type: 'string' },
        segmenter: { type: 'string', default: 'jieba' },
        stopwords: { type: 'string', default: 'default' },
        'per-sample': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new UserInputError(`${(err as Error).message}\n${USAGE}`, ['argv']);
  }
  if (!values.input) throw new UserInputError(`--input is required\n${USAGE}`, ['--input']);
  if (!isSegmenter(values.segmenter)) {
    throw new UserInputError(
      `--segmenter must be one of ${SEGMENTERS.join(', ')}, not '${values.segmenter}'`,
      ['--segmenter'],
    );
  }
  const options: TokenizeOptions = {
    segmenter: values.segmenter,
    stopwords: stopwordsOption(values.stopwords),
  };

  const samples: SampleScores[] = [];
  readText(values.input, '--input')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return; // blank lines (a trailing newline included) hold no sample
      const { prediction, reference } = parsePair(values.input!, line, i + 1);
      samples.push(scoreSample(prediction, reference, options));
    });
  if (samples.length === 0) throw new UserInputError(`${values.input} has no samples`, ['--input']);

  const result = values['per-sample'] ? { ...aggregate(samples), samples } : aggregate(samples);
  process.stdout.write(JSON.stringify(result) + '\n');
}
