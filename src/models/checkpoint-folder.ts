/**
 * Hugging Face model folders: check that one holds what training needs (config.json, safetensors weights,
 * tokenizer.json) and open it; write one back (config, weights, tokenizer files) after a full update, in the
 * layout `from_pretrained` loads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserInputError } from '../errors';
import { loadModelConfig, ModelConfig } from './config';
import {
  INDEX_FILE,
  SafetensorsReader,
  SINGLE_FILE,
  writeModelSafetensors,
  WritableTensor,
} from './safetensors';
import { TextTokenizer } from './tokenizer';

/** Files a tokenizer may consist of, copied along with a model; only tokenizer.json is required. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
  'added_tokens.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
] as const;

export interface ModelFolder {
  folder: string;
  config: ModelConfig;
  weights: SafetensorsReader;
  tokenizer: TextTokenizer;
}

const isFile = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;

/**
 * Throw one UserInputError listing everything a model folder lacks (config.json, safetensors weights, and
 * tokenizer.json unless `tokenizer` is false).
 */
export function checkModelFolder(folder: string, options: { tokenizer?: boolean } = {}): void {
  if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UserInputError(`${folder} is not a folder`, [folder], 'BAD_MODEL_FOLDER');
  }
  const missing: string[] = [];
  if (!isFile(path.join(folder, 'config.json'))) missing.push('config.json');
  if (!isFile(path.join(folder, SINGLE_FILE)) && !isFile(path.join(folder, INDEX_FILE))) {
    const pytorchOnly = fs.readdirSync(folder).some((f) => f.endsWith('.bin') || f.endsWith('.pt'));
    missing.push(
      `${SINGLE_FILE} or ${INDEX_FILE}` +
        (pytorchOnly ? ' (only PyTorch .bin/.pt weights are present: save them as safetensors first)' : ''),
    );
  }
  if ((options.tokenizer ?? true) && !isFile(path.join(folder, 'tokenizer.json')))
    missing.push('tokenizer.json');
  if (missing.length) {
    throw new UserInputError(
      `${folder} is not a usable model folder: missing ${missing.join('; ')}`,
      [folder],
      'BAD_MODEL_FOLDER',
    );
  }
}

/** Check and open a model folder: its normalized config, lazily read weights and tokenizer. */
export function openModelFolder(folder: string): ModelFolder {
  checkModelFolder(folder);
  const config = loadModelConfig(path.join(folder, 'config.json'));
  return {
    folder,
    config,
    weights: SafetensorsReader.openFolder(folder),
    tokenizer: TextTokenizer.load(folder, config),
  };
}

/** Copy the tokenizer files present in `from` (tokenizer.json at least) into `to`; returns the names copied. */
export function copyTokenizerFiles(from: string, to: string): string[] {
  if (!isFile(path.join(from, 'tokenizer.json'))) {
    throw new UserInputError(`${from} has no tokenizer.json to copy`, [from], 'BAD_MODEL_FOLDER');
  }
  fs.mkdirSync(to, { recursive: true });
  const copied = TOKENIZER_FILES.filter((name) => isFile(path.join(from, name)));
  for (const name of copied) fs.copyFileSync(path.join(from, name), path.join(to, name));
  return copied;
}

/** JSON with object keys sorted at every level and 2-space indents, as transformers writes config files. */
function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(value), null, 2) + '\n';
}

/** Write `config.json`: the original fields of `config` with `changes` applied. */
export function writeModelConfig(
  folder: string,
  config: ModelConfig,
  changes: Record<string, unknown> = {},
): void {
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'config.json'), sortedJson({ ...config.raw, ...changes }));
}

const DTYPE_NAMES = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

/**
 * Write a complete model folder: config.json (its dtype field set to what the weights are stored in),
 * safetensors weights (sharded above `maxShardBytes`), and from `sourceFolder` (the model trained) the tokenizer
 * files and generation_config.json when it has one. Returns the files written.
 */
export function writeModelFolder(
  folder: string,
  model: {
    config: ModelConfig;
    tensors: Record<string, WritableTensor>;
    sourceFolder: string;
    maxShardBytes?: number;
  },
): string[] {
  const stored = new Set(Object.values(model.tensors).map((t) => t.dtype));
  const dtype = stored.size === 1 ? DTYPE_NAMES[[...stored][0] as keyof typeof DTYPE_NAMES] : undefined;
  // transformers 5 names the field `dtype`; older files say `torch_dtype`.
  const dtypeField =
    'torch_dtype' in model.config.raw && !('dtype' in model.config.raw) ? 'torch_dtype' : 'dtype';
  writeModelConfig(folder, model.config, dtype ? { [dtypeField]: dtype } : {});
  const written = ['config.json', ...writeModelSafetensors(folder, model.tensors, model.maxShardBytes)];
  written.push(...copyTokenizerFiles(model.sourceFolder, folder));
  const generation = path.join(model.sourceFolder, 'generation_config.json');
  if (isFile(generation)) {
    fs.copyFileSync(generation, path.join(folder, 'generation_config.json'));
    written.push('generation_config.json');
  }
  return written;
}
