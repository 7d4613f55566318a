/**
 * The `whetstone train --config FILE` file (YAML or JSON). Its keys are fixed: external checks use them.
 * Relative paths are taken from the current directory, else from the config file's folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { UserInputError } from '../errors';
import { ExecutionProvider } from '../engine/session';
import { Hyperparameters, parseHyperparameters, type Recommendations } from './hyperparameters';
import { readRecommendations } from './hyperparameters/recommended';
import { CONFIG_METHOD_NAMES } from './methods';
import {
  type EngineScale,
  METHOD_NAMES,
  PROVIDER_NAMES,
  SCALE_NAMES,
  engineName,
  wordOf,
} from '../vocabulary';

/** The engine's spellings of the vocabulary's scales and providers (src/vocabulary.ts). */
export const PARAMETER_SCALES: readonly EngineScale[] = SCALE_NAMES.map(engineName);
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = PROVIDER_NAMES.map(engineName);
/** `plain`: prompt as the tokenizer's single-text encoding, response without specials, then eos. */
export const TEMPLATES = ['plain', 'chat'] as const;
export type Template = (typeof TEMPLATES)[number];

export interface TrainConfig {
  model: string;
  dataset: string;
  template: Template;
  /** A method name, lower case ('sft'). */
  method: string;
  parameterScale: EngineScale;
  initAdapter: string | null;
  hyperparameters: Hyperparameters;
  output: string;
  executionProvider: ExecutionProvider;
  /** Continue from a checkpoint folder written by an earlier run. */
  resumeFrom: string | null;
  /** CPU intra-op threads (default: onnxruntime's choice). */
  threads: number | null;
}

const KEYS = [
  'model',
  'dataset',
  'template',
  'method',
  'parameterScale',
  'initAdapter',
  'hyperparameters',
  'output',
  'executionProvider',
  'resumeFrom',
  'threads',
] as const;

function parseText(file: string, text: string): unknown {
  if (/\.json$/i.test(file)) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new UserInputError(`${file}: invalid JSON: ${(err as Error).message}`, [file]);
    }
  }
  const doc = YAML.parseDocument(text);
  if (doc.errors.length) {
    const e = doc.errors[0];
    const where = e.linePos ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw new UserInputError(`${file}: invalid YAML${where}: ${e.message.split('\n')[0]}`, [file]);
  }
  return doc.toJS();
}

function oneOf<T extends string>(
  raw: Record<string, unknown>,
  key: string,
  values: readonly T[],
  dflt?: T,
): T {
  const v = raw[key] ?? dflt;
  if (typeof v === 'string') {
    const hit = values.find((x) => x.toLowerCase() === v.toLowerCase());
    if (hit) return hit;
  }
  throw new UserInputError(`${key} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`, [key]);
}

/** An existing path (cwd first, then the config folder); `kind` says what it must be. */
function existing(raw: Record<string, unknown>, key: string, base: string, kind: 'file' | 'dir'): string {
  const v = raw[key];
  if (typeof v !== 'string' || !v)
    throw new UserInputError(`${key} must be a path, got ${JSON.stringify(v)}`, [key]);
  const candidates = path.isAbsolute(v) ? [v] : [path.resolve(v), path.resolve(base, v)];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new UserInputError(`${key}: ${candidates.join(' or ')} does not exist`, [key]);
  if (fs.statSync(found).isDirectory() !== (kind === 'dir')) {
    throw new UserInputError(`${key}: ${found} is not a ${kind === 'dir' ? 'folder' : 'file'}`, [key]);
  }
  return found;
}

/**
 * The defaults a model folder's config.json recommends (hyperparameters/recommended.ts), as jobs on a registered
 * model take them; a config.json that does not parse is left for the model's loading to report.
 */
function folderRecommendations(model: string): Recommendations | null {
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
  } catch {
    return null;
  }
  return readRecommendations(config, path.join(model, 'config.json'));
}

export function parseTrainConfig(raw: unknown, file: string): TrainConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserInputError(`${file}: the config must be a mapping of keys (${KEYS.join(', ')})`, [file]);
  }
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (unknown.length) {
    throw new UserInputError(`${file}: unknown key ${unknown[0]} (known: ${KEYS.join(', ')})`, [unknown[0]]);
  }
  const base = path.dirname(path.resolve(file));
  if (typeof obj.output !== 'string' || !obj.output) {
    throw new UserInputError(`output must be a folder path, got ${JSON.stringify(obj.output)}`, ['output']);
  }
  const threads = obj.threads ?? null;
  if (threads !== null && !(typeof threads === 'number' && Number.isInteger(threads) && threads >= 1)) {
    throw new UserInputError(`threads must be an integer >= 1, got ${JSON.stringify(threads)}`, ['threads']);
  }
  const parameterScale = oneOf(obj, 'parameterScale', PARAMETER_SCALES, 'full');
  const initAdapter = obj.initAdapter == null ? null : existing(obj, 'initAdapter', base, 'dir');
  if (initAdapter && parameterScale === 'full') {
    throw new UserInputError('initAdapter needs parameterScale lora or prompt_tuning', ['initAdapter']);
  }
  const model = existing(obj, 'model', base, 'dir');
  const method = oneOf(obj, 'method', CONFIG_METHOD_NAMES, 'sft');
  return {
    model,
    dataset: existing(obj, 'dataset', base, 'file'),
    template: oneOf(obj, 'template', TEMPLATES, 'plain'),
    method,
    parameterScale,
    initAdapter,
    hyperparameters: parseHyperparameters(obj.hyperparameters, ['hyperparameters'], {
      runner: 'cli',
      method: wordOf(METHOD_NAMES, method),
      parameterScale: wordOf(SCALE_NAMES, parameterScale),
      recommended: folderRecommendations(model),
    }),
    output: path.resolve(obj.output),
    executionProvider: oneOf(obj, 'executionProvider', EXECUTION_PROVIDERS, 'cpu'),
    resumeFrom: obj.resumeFrom == null ? null : existing(obj, 'resumeFrom', base, 'dir'),
    threads: threads as number | null,
  };
}

export function loadTrainConfig(file: string): TrainConfig {
  if (!fs.existsSync(file)) throw new UserInputError(`config file ${file} does not exist`, [file]);
  return parseTrainConfig(parseText(file, fs.readFileSync(file, 'utf8')), file);
}
