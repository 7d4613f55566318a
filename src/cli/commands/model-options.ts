/** Flag parsing shared by the model commands (generate, loss): errors name the flag and show the usage. */
import { parseArgs, ParseArgsConfig } from 'node:util';
import { ExecutionProvider } from '../../engine/session';
import { UserInputError } from '../../errors';
import { EXECUTION_PROVIDERS } from '../../training/config-file';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseOrExplain<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UserInputError(`${(err as Error).message}\n${usage}`, ['argv']);
  }
}

export function numberOption(
  value: string | undefined,
  flag: string,
  range: { above?: number; max?: number },
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const ok =
    value.trim() !== '' &&
    Number.isFinite(n) &&
    (range.above === undefined || n > range.above) &&
    (range.max === undefined || n <= range.max);
  if (!ok) {
    const bounds = [
      range.above !== undefined ? `> ${range.above}` : '',
      range.max !== undefined ? `<= ${range.max}` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    throw new UserInputError(`${flag} must be a number ${bounds}, got ${JSON.stringify(value)}`, [flag]);
  }
  return n;
}

export function intOption(
  value: string | undefined,
  flag: string,
  range: { min?: number; max?: number },
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    !/^\d+$/.test(value.trim()) ||
    (range.min !== undefined && n < range.min) ||
    (range.max !== undefined && n > range.max)
  ) {
    throw new UserInputError(
      `${flag} must be an integer${range.min !== undefined ? ` >= ${range.min}` : ''}, got ${JSON.stringify(value)}`,
      [flag],
    );
  }
  return n;
}

/** `--ep` and its long form `--execution-provider`: where the model runs. */
export const PROVIDER_FLAGS = {
  ep: { type: 'string' },
  'execution-provider': { type: 'string' },
} as const;

/** The provider the flags name (default cpu); both flags at once or an unknown name is an error. */
export function providerOption(values: { ep?: string; 'execution-provider'?: string }): ExecutionProvider {
  if (values.ep !== undefined && values['execution-provider'] !== undefined) {
    throw new UserInputError('give --ep or --execution-provider, not both', ['--ep']);
  }
  const name = values.ep ?? values['execution-provider'] ?? 'cpu';
  const provider = EXECUTION_PROVIDERS.find((p) => p === name);
  if (!provider) {
    throw new UserInputError(
      `--ep must be one of ${EXECUTION_PROVIDERS.join(', ')}, got ${JSON.stringify(name)}`,
      ['--ep'],
    );
  }
  return provider;
}
