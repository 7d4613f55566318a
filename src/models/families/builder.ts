/**
 * What every family's forward pass needs from the model and the options: base weights as params or frozen
 * initializers (by ParamPolicy), linear layers with LoRA where targeted, activations, and the output heads.
 */
import { Graph, Tensor } from '../../engine/graph';
import { upcast } from '../../engine/checkpoint';
import * as nn from '../../engine/nn';
import * as op from '../../engine/ops';
import { UserInputError } from '../../errors';
import { Activation } from '../config';
import { loraDelta, loraKey, loraModules, loraScale } from '../lora';
import type { CausalLMOptions, DropoutInput, LoadedModel, LoraSpec, PromptSpec } from '../types';
import { PROMPT_KEY } from '../prompt-tuning';
import { joinedLinear } from './joined';
import { LinearModule } from './layout';

export class ForwardBuilder {
  readonly params = new Map<string, Tensor>();
  readonly noise: DropoutInput[] = [];
  readonly lora: LoraSpec | null;
  readonly prompt: PromptSpec | null;
  private readonly leaves = new Map<string, Tensor>();
  private readonly adapted: ReadonlySet<string>;

  constructor(
    readonly g: Graph,
    readonly m: LoadedModel,
    readonly opts: CausalLMOptions,
    /** The checkpoint's name for a module path (GPT-2 files may lack the `transformer.` prefix). */
    readonly checkpointName: (modulePath: string) => string = (p) => p,
  ) {
    const adapter = opts.adapterEnabled === false ? undefined : opts.adapter;
    if (adapter && opts.policy === 'full') {
      throw new Error('buildCausalLM: policy "full" trains the base weights; it takes no adapter');
    }
    if (adapter && opts.policy === 'frozen' && !adapter.weights) {
      throw new Error('buildCausalLM: a frozen adapter needs its weights');
    }
    this.lora = adapter?.kind === 'lora' ? adapter : null;
    this.prompt = adapter?.kind === 'prompt' ? adapter : null;
    this.adapted = new Set(this.lora ? loraModules(m.config, this.lora).map((l) => l.path) : []);
  }

  /**
   * A base weight by checkpoint name: a graph param under policy 'full', else a frozen initializer. A 16-bit frozen
   * weight is cast to float32 at each call, so call this where the weight is used (see `upcast`).
   */
  weight(name: string, shape?: readonly number[]): Tensor {
    const t = this.leaves.get(name) ?? this.leaf(name, shape);
    return t.dtype === 'float32' ? t : upcast(t);
  }

  /** Rows `ids` of a weight table (an embedding), gathered before the upcast: only those rows are widened. */
  rows(name: string, shape: readonly number[], ids: Tensor): Tensor {
    const table = this.leaves.get(name) ?? this.leaf(name, shape);
    // WebGPU gathers float16 rows by int64 indices (its kernel table has no float16 data with int32 indices).
    const index = table.dtype === 'float16' && ids.dtype === 'int32' ? op.cast(ids, 'int64') : ids;
    const picked = op.gather(table, index);
    return picked.dtype === 'float32' ? picked : upcast(picked);
  }

  /** A frozen leaf made once per graph under `name` (a checkpointed layer is built twice). */
  frozenLeaf(name: string, make: () => Tensor): Tensor {
    const known = this.leaves.get(name);
    if (known) return known;
    const t = make();
    this.leaves.set(name, t);
    return t;
  }

  /** The stored shape of a checkpoint tensor, refused when missing or unlike the config's `shape`. */
  storedShape(name: string, shape?: readonly number[]): readonly number[] {
    if (!this.m.weights.has(name)) {
      throw new UserInputError(
        `${this.m.dir}: the checkpoint has no tensor ${name}, which a ${this.m.config.architecture} needs`,
        [this.m.dir, name],
        'BAD_CHECKPOINT',
      );
    }
    const stored = this.m.weights.shape(name);
    if (shape && stored.join() !== shape.join()) {
      throw new UserInputError(
        `${this.m.dir}: tensor ${name} has shape [${stored.join(', ')}], the config implies [${shape.join(', ')}]`,
        [this.m.dir, name],
        'BAD_CHECKPOINT',
      );
    }
    return stored;
  }

  private leaf(name: string, shape?: readonly number[]): Tensor {
    const stored = this.storedShape(name, shape);
    let t: Tensor;
    if (this.opts.policy === 'full') {
      t = this.g.param(name, stored);
      this.params.set(name, t);
    } else {
      t = this.frozen(name, stored);
    }
    this.leaves.set(name, t);
    return t;
  }

  /** A frozen base weight: mapped from the checkpoint where the store can (in its dtype), else a copy. */
  private frozen(name: string, shape: readonly number[]): Tensor {
    const mapped = this.m.weights.mapped?.(name);
    if (!mapped) return this.g.initializer(name, this.m.weights.get(name).data, shape);
    return this.g.mappedInitializer(name, mapped.slice, shape, mapped.dtype);
  }

  /** An adapter tensor by PEFT name: a param under policy 'adapter', else an initializer from the adapter's weights. */
  adapterWeight(name: string, shape: readonly number[], weights: LoraSpec['weights']): Tensor {
    const known = this.leaves.get(name);
    if (known) return known;
    let t: Tensor;
    if (this.opts.policy === 'adapter') {
      t = this.g.param(name, shape);
      this.params.set(name, t);
    } else {
      t = this.g.initializer(name, weights!.get(name).data, shape);
    }
    this.leaves.set(name, t);
    return t;
  }

  /** A linear layer (HF Linear or GPT-2 Conv1D) on x (..., in), plus its LoRA branch where targeted. */
  linear(mod: LinearModule, x: Tensor): Tensor {
    const name = this.checkpointName(mod.path);
    const shape =
      mod.layout === 'linear' ? [mod.outFeatures, mod.inFeatures] : [mod.inFeatures, mod.outFeatures];
    const w = this.weight(`${name}.weight`, shape);
    const b = mod.bias ? this.weight(`${name}.bias`, [mod.outFeatures]) : undefined;
    let y: Tensor;
    if (mod.layout === 'linear') {
      y = nn.linear(x, w, b);
    } else {
      const flat = op.reshape(x, [-1, mod.inFeatures]); // (N, in)
      y = op.reshape(op.gemm(flat, w, b), [...x.shape.slice(0, -1), mod.outFeatures]);
    }
    return this.withLora(mod, x, y);
  }

  /**
   * Linear layers (HF Linear) on the same x: one product against their weights joined along the output axis where
   * `Graph.joinProjections` allows (joined.ts), split back into each layer's output; each LoRA delta is added to
   * its own layer's slice.
   */
  linears(mods: readonly LinearModule[], x: Tensor): Tensor[] {
    const joined = mods.length > 1 ? joinedLinear(this, mods) : null;
    if (!joined) return mods.map((mod) => this.linear(mod, x));
    const y = nn.linear(x, joined.weight, joined.bias);
    const pieces = op.split(
      y,
      joined.order.map((i) => mods[i].outFeatures),
      -1,
    );
    const outputs: Tensor[] = [];
    joined.order.forEach((i, at) => (outputs[i] = pieces[at]));
    return mods.map((mod, i) => this.withLora(mod, x, outputs[i]));
  }

  /** Whether a base weight is a trainable param (policy 'full'), so joining it is a run-time Concat. */
  get trainsBase(): boolean {
    return this.opts.policy === 'full';
  }

  /** y plus the LoRA branch of `mod` on x, where the adapter targets it. */
  private withLora(mod: LinearModule, x: Tensor, y: Tensor): Tensor {
    if (!this.lora || !this.adapted.has(mod.path)) return y;
    const a = this.adapterWeight(loraKey(mod.path, 'A'), [this.lora.r, mod.inFeatures], this.lora.weights);
    const bw = this.adapterWeight(loraKey(mod.path, 'B'), [mod.outFeatures, this.lora.r], this.lora.weights);
    let keep: Tensor | undefined;
    if (this.opts.policy === 'adapter' && this.lora.dropout > 0) {
      // A checkpointed layer is built twice; both builds read the same mask.
      const name = `${loraKey(mod.path, 'A')}.dropout_keep`;
      keep = this.noise.find((n) => n.input.name === name)?.input;
      if (!keep) {
        keep = this.g.input(name, x.shape, 'float32');
        this.noise.push({ input: keep, kind: 'dropout', p: this.lora.dropout });
      }
    }
    return op.add(y, loraDelta(x, a, bw, loraScale(this.lora), keep));
  }

  /** The prompt-tuning embeddings (N, C), or null without a prompt adapter. */
  promptEmbeddings(): Tensor | null {
    if (!this.prompt) return null;
    const shape = [this.prompt.numVirtualTokens, this.m.config.hiddenSize];
    return this.adapterWeight(PROMPT_KEY, shape, this.prompt.weights);
  }

  activation(kind: Activation, x: Tensor): Tensor {
    switch (kind) {
      case 'silu':
        return nn.silu(x);
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
        return nn.geluTanh(x);
      case 'gelu':
        return nn.geluErf(x);
      case 'relu':
        return op.relu(x);
    }
  }

  /** The head the options ask for, else the config's. */
  get headKind(): 'lm' | 'score' {
    return this.opts.head ?? (this.m.config.head === 'sequence_classification' ? 'score' : 'lm');
  }

  /**
   * The output head on hidden (B, T, C): the LM head (`lmLogits`) or the sequence-classification `score` layer.
   */
  head(hidden: Tensor, embedding: string): Tensor {
    const c = this.m.config;
    if (this.headKind === 'score')
      return nn.linear(hidden, this.weight('score.weight', [c.numLabels, c.hiddenSize]));
    return this.lmLogits(hidden, embedding);
  }

  /**
   * The LM head's logits on hidden (..., C): its weight (V, C) tied to `embedding` where the config says so.
   * Baichuan2's NormHead uses F.normalize(W, dim=1), rows divided by max(||row||, 1e-12); dividing the logits'
   * columns by those norms is the same product and makes no normalised copy of W (a float32 (V, C) less at once).
   * With MemoryLayout.headSlice the head is used in slices of that many vocabulary rows, their logits joined, so
   * no float32 (V, C) copy of a 16-bit head exists (WebGPU's storage-binding limit, models/webgpu-fit.ts).
   */
  lmLogits(hidden: Tensor, embedding: string): Tensor {
    const c = this.m.config;
    const name = c.tieWordEmbeddings ? embedding : 'lm_head.weight';
    const rows = this.opts.memoryLayout?.headSlice ?? c.vocabSize;
    if (rows >= c.vocabSize) return this.headProduct(hidden, this.weight(name, [c.vocabSize, c.hiddenSize]));
    const sizes = Array.from({ length: Math.ceil(c.vocabSize / rows) }, (_, i) =>
      Math.min(rows, c.vocabSize - i * rows),
    );
    const slices = this.weightRows(name, [c.vocabSize, c.hiddenSize], sizes);
    return op.concat(
      slices.map((w) => this.headProduct(hidden, w)),
      -1,
    );
  }

  /** hidden (..., C) times one head weight (rows, C), normalised per row for a NormHead. */
  private headProduct(hidden: Tensor, w: Tensor): Tensor {
    const logits = nn.linear(hidden, w);
    if (!this.m.config.normHead) return logits;
    const norms = op.sqrt(op.reduceSumSquare(w, [1], false)); // (rows)
    return op.div(logits, op.maximum(norms, 1e-12));
  }

  /**
   * A base weight (rows, cols) as consecutive row slices of `sizes`, each float32 at its use: a frozen mapped
   * weight as one mapped initializer per slice (rows are contiguous in the file: no Split, no copy), else a Split.
   */
  private weightRows(name: string, shape: readonly number[], sizes: readonly number[]): Tensor[] {
    const mapped = this.opts.policy === 'full' ? null : this.m.weights.mapped?.(name);
    if (!mapped) {
      const whole = this.leaves.get(name) ?? this.leaf(name, shape);
      return op.split(whole, sizes, 0).map((t) => (t.dtype === 'float32' ? t : upcast(t)));
    }
    this.storedShape(name, shape);
    const rowBytes = mapped.slice.length / shape[0];
    let start = 0;
    return sizes.map((n) => {
      const at = start;
      start += n;
      const leaf = this.frozenLeaf(`${name}[${at}:${at + n}]`, () =>
        this.g.mappedInitializer(
          `${name}[${at}:${at + n}]`,
          { ...mapped.slice, offset: mapped.slice.offset + at * rowBytes, length: n * rowBytes },
          [n, shape[1]],
          mapped.dtype,
        ),
      );
      return leaf.dtype === 'float32' ? leaf : upcast(leaf);
    });
  }
}

/**
 * Index (B) of each row's last real token, from a (B, T) mask: max over t of t * mask[t], in the mask's integer
 * dtype (int32 keeps it on WebGPU), int64 for a bool mask.
 */
export function lastTokenIndex(attentionMask: Tensor): Tensor {
  const [, t] = attentionMask.shape;
  const ints = attentionMask.dtype === 'int32' ? 'int32' : 'int64';
  const mask = attentionMask.dtype === ints ? attentionMask : op.cast(attentionMask, ints);
  return op.reduceMax(op.mul(mask, op.reshape(op.arange(attentionMask.graph, 0, t, ints), [1, t])), [1]);
}

/** hidden (B, T, C) at one position per row, indices (B) int64 -> (B, 1, C). */
export function pickPositions(hidden: Tensor, indices: Tensor): Tensor {
  const [b, , c] = hidden.shape;
  const idx = op.expand(op.reshape(indices, [b, 1, 1]), [b, 1, c]);
  return op.gatherElements(hidden, idx, 1);
}
