/**
 * What registration records about a model folder: its architecture, size and limits, from the engine's config
 * parser (so only families the engine can train register) and the safetensors headers (no weights are loaded).
 * Every file is read through ServerFiles (import root, real paths, regular files, size caps, off the event loop).
 * Problems are UserInputErrors naming the file and field.
 */
import path from 'node:path';
import { UserInputError } from '../../errors';
import { parseModelConfig } from '../../models/config';
import { headerEntries, headerLength, INDEX_FILE, SINGLE_FILE } from '../../models/safetensors';
import type { ServerFiles } from '../common/server-files';
import type { Recommendations } from '../../training/hyperparameters';
import { readRecommendations } from '../../training/hyperparameters/recommended';
import { ModelShape, shapeOf } from '../../training/memory-plan';

export interface ModelFacts {
  /** The folder's real path. */
  path: string;
  architecture: string;
  modelType: string;
  parameterCount: number;
  maxSequenceLength: number;
  vocabularySize: number;
  shape: ModelShape;
  /** config.json's recommended hyperparameters (training/hyperparameters/recommended.ts). */
  recommendedHyperparameters: Recommendations | null;
}

/** Largest config.json and model.safetensors.index.json read (real ones are a few kilobytes). */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** A file of the folder that must be there; its absence reads like any unreadable file. */
async function required<T>(name: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof UserInputError) throw new UserInputError(`${name}: ${err.message}`, [name]);
    throw err;
  }
}

function parseJson(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UserInputError(`${name} is not valid JSON`, [name]);
  }
}

/** The tensor shapes of one safetensors file, from its header alone. */
async function shapesOf(files: ServerFiles, file: string, name: string): Promise<number[][]> {
  const { handle, size } = await required(name, () => files.open(file, Number.MAX_SAFE_INTEGER));
  try {
    const first8 = new Uint8Array(8);
    await handle.read(first8, 0, 8, 0);
    const length = headerLength(name, first8, size);
    const header = Buffer.alloc(length);
    await handle.read(header, 0, length, 8);
    return headerEntries(name, header.toString('utf8'), length, size).entries.map((e) => e.shape);
  } finally {
    await handle.close();
  }
}

/** The safetensors files of a folder: the shards of model.safetensors.index.json, or model.safetensors. */
async function weightFiles(files: ServerFiles, dir: string): Promise<string[]> {
  const index = await files.readText(path.join(dir, INDEX_FILE), MAX_JSON_BYTES).catch(() => null);
  if (index === null) return [SINGLE_FILE];
  const weightMap = (parseJson(INDEX_FILE, index) as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null)
    throw new UserInputError(`${INDEX_FILE} has no "weight_map" object`, [INDEX_FILE, 'weight_map']);
  const shards = [...new Set(Object.values(weightMap))];
  if (!shards.every((s) => typeof s === 'string' && s.length > 0 && !s.includes('/') && !s.includes('\\')))
    throw new UserInputError(`${INDEX_FILE} names a shard that is not a file of the folder`, [INDEX_FILE]);
  return (shards as string[]).sort();
}

export async function inspectModelFolder(files: ServerFiles, given: string): Promise<ModelFacts> {
  const dir = await files.folder(given);
  await required('tokenizer.json', async () =>
    (await files.open(path.join(dir, 'tokenizer.json'), Number.MAX_SAFE_INTEGER)).handle.close(),
  );
  const configText = await required('config.json', () =>
    files.readText(path.join(dir, 'config.json'), MAX_JSON_BYTES),
  );
  const raw = parseJson('config.json', configText);
  const config = parseModelConfig(raw, 'config.json');
  const recommendedHyperparameters = readRecommendations(raw);
  let parameterCount = 0;
  for (const name of await weightFiles(files, dir)) {
    for (const shape of await shapesOf(files, path.join(dir, name), name))
      parameterCount += shape.reduce((a, b) => a * b, 1);
  }
  return {
    path: dir,
    architecture: config.architecture,
    modelType: config.family,
    parameterCount,
    maxSequenceLength: config.maxPositionEmbeddings,
    vocabularySize: config.vocabSize,
    shape: shapeOf(config),
    recommendedHyperparameters,
  };
}
