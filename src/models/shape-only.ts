/**
 * A model described by its shapes alone: every graph builder accepts it (config, tokenizer, weight names, shapes
 * and stored dtypes, frozen weights as mapped slices of a file that does not exist), so a 7B model's graphs can be
 * built and their tensors inspected (engine/binding-size.ts) without writing or reading its 15 GB of weights. Such
 * graphs are never run: reading a weight, or emitting a graph, fails.
 */
import * as path from 'node:path';
import { loadModelConfig } from './config';
import { DemoModelOptions, demoModel, writeDemoConfigFiles } from './demo';
import type { FileSlice, DType } from '../engine/graph';
import { TextTokenizer } from './tokenizer';
import type { LoadedModel, WeightStore, WeightTensor } from './types';
import type { SafetensorsDtype } from './safetensors';

const DTYPES: Partial<Record<SafetensorsDtype, { dtype: DType; bytes: number }>> = {
  F32: { dtype: 'float32', bytes: 4 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
};

/** Names, shapes and file ranges of a checkpoint that was never written. */
class ShapeOnlyWeights implements WeightStore {
  private readonly entries = new Map<string, { shape: readonly number[]; slice: FileSlice; dtype: DType }>();

  constructor(tensors: ReturnType<typeof demoModel>['tensors'], file: string) {
    // Back to back in file order, as the safetensors writer lays them out (joined.ts reads adjacency from this).
    let offset = 0;
    for (const [name, t] of Object.entries(tensors)) {
      const known = DTYPES[t.dtype];
      if (!known) throw new Error(`${name}: shape-only models hold F32 or BF16, not ${t.dtype}`);
      const { dtype, bytes } = known;
      const length = t.shape.reduce((a, b) => a * b, bytes);
      this.entries.set(name, { shape: t.shape, slice: { file, offset, length }, dtype });
      offset += length;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): readonly number[] {
    return this.entry(name).shape;
  }

  get(name: string): WeightTensor {
    throw new Error(`${name}: a shape-only model has no weight values`);
  }

  mapped(name: string): { slice: FileSlice; dtype: DType } {
    const { slice, dtype } = this.entry(name);
    return { slice, dtype };
  }

  private entry(name: string) {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no weight named ${name}`);
    return e;
  }
}

/**
 * The demo model of `opts` (e.g. Baichuan2-7B's shape in bfloat16) with its config and tokenizer files written
 * into `dir` (a few kilobytes) and its weights as shapes only.
 */
export function shapeOnlyModel(dir: string, opts: DemoModelOptions): LoadedModel {
  const { config, tensors } = demoModel(opts);
  writeDemoConfigFiles(dir, config);
  const parsed = loadModelConfig(path.join(dir, 'config.json'));
  return {
    dir,
    config: parsed,
    weights: new ShapeOnlyWeights(tensors, path.join(dir, 'weights (shapes only)')),
    tokenizer: TextTokenizer.load(dir, parsed),
  };
}
