/**
 * What registration records about a model folder: its architecture, size and limits, from the engine's config
 * parser (so only families the engine can train register) and the safetensors headers (no weights are loaded).
 * Problems are UserInputErrors naming the file and field.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../../errors';
import { loadModelConfig } from '../../models/config';
import { SafetensorsReader } from '../../models/safetensors';

export interface ModelFacts {
  architecture: string;
  modelType: string;
  parameterCount: number;
  maxSequenceLength: number;
  vocabularySize: number;
}

export async function inspectModelFolder(dir: string): Promise<ModelFacts> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new UserInputError(`${dir} is not a folder`, []);
  if (!(await stat(path.join(dir, 'tokenizer.json')).catch(() => null))?.isFile()) {
    throw new UserInputError(`${dir} has no tokenizer.json`, ['tokenizer.json']);
  }
  const config = loadModelConfig(path.join(dir, 'config.json'));
  const weights = SafetensorsReader.openFolder(dir);
  let parameterCount = 0;
  for (const name of weights.names()) parameterCount += weights.entry(name).shape.reduce((a, b) => a * b, 1);
  return {
    architecture: config.architecture,
    modelType: config.family,
    parameterCount,
    maxSequenceLength: config.maxPositionEmbeddings,
    vocabularySize: config.vocabSize,
  };
}
