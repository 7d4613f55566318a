/**
 * Batched text generation with a static key/value cache: one prefill graph runs the prompts (B, Tp) and fills
 * caches of Tmax slots; one decode graph then runs a token per row per step, reading and writing the caches at the
 * current slot. Every row uses the same slot layout [virtual tokens | prompt columns | generated tokens]; padding
 * (left or right) just leaves masked slots, and each token's position is the number of real tokens before it,
 * so a padded row computes what it would alone. Sessions are cached per shape.
 *
 * A 16-bit checkpoint's frozen weights (`halfWeights`) are cast to float32 where they are used; on the CPU the
 * decode sessions, which run at every step, may read one float32 copy instead, widened once and shared by the
 * decode sessions of every shape (engine/float-weights).
 *
 * `useCache: false` runs the whole sequence through one full-length graph at every step (the reference the cache
 * is checked against, and the baseline of bench/generate.ts).
 */
import * as ort from 'onnxruntime-node';
import { Graph, Tensor } from '../engine/graph';
import * as op from '../engine/ops';
import { providerGraph, providerInts } from '../engine/layout';
import { FloatWeights } from '../engine/float-weights';
import { ExecutionProvider, Feed, Session, createSession } from '../engine/session';
import { UserInputError } from '../errors';
import { Rng } from '../util/rng';
import { checkSequenceLength } from './config';
import { generationShape, type GenerationBuckets } from './generation-shape';
import { buildCausalLM, LayerCache, LoadedModel, ResolvedAdapter } from './model';
import type { MemoryLayout } from './memory-layout';
import { providerMemoryLayout } from './webgpu-fit';
import { argmax, sampleToken, SamplingOptions } from './sampling';

export interface GeneratorOptions {
  /** An adapter applied unmerged (LoRA) or prepended (prompt tuning). */
  adapter?: ResolvedAdapter;
  executionProvider?: ExecutionProvider;
  threads?: number;
  /**
   * Shapes are rounded up so that requests of similar sizes share sessions: the prompt width to a multiple of
   * `prompt` (extra left padding) and the cache slots to a multiple of `slots` (extra masked slots). Padding never
   * changes results. Default { prompt: 16, slots: 64 }; 1 and 1 give exact shapes.
   */
  buckets?: GenerationBuckets;
  /**
   * A 16-bit checkpoint's frozen weights: 'fold' (default) widens them into one float32 copy that the decode
   * sessions of every shape share (faster steps), the prefill casting each weight where it uses it (on the CPU; a
   * device's sessions each fold theirs); 'cast' keeps only the
   * 16-bit bytes, every run casting each weight where it uses it (slower steps: onnxruntime's bfloat16 Cast is
   * single-threaded). The memory plan chooses (memory-plan.ts `checkGenerationMemory`).
   */
  halfWeights?: HalfWeights;
}

export type HalfWeights = 'fold' | 'cast';

export interface GenerateRequest {
  /** Prompt ids per row: unpadded lists of any lengths, or rows of one length padded on either side (with `attentionMask`). */
  prompts: readonly (readonly number[])[];
  /** 1 for real tokens, 0 for padding; default: every given id is real (short rows are left-padded). */
  attentionMask?: readonly (readonly number[])[];
  maxNewTokens: number;
  /**
   * Sampling with a seed; absent: greedy. Each step draws once per row still generating; `drawn` draws are skipped
   * first, so a run that continues after an earlier one's tokens (one row) goes on with that run's stream.
   */
  sampling?: SamplingOptions & { seed: number; drawn?: number };
  /** Rows stop after producing one of these; default the model's end-of-sequence ids; [] never stops early. */
  eosTokenIds?: readonly number[];
  /** Default true. */
  useCache?: boolean;
  /** After each step, with every row's generated tokens so far (streaming). */
  onStep?(generated: readonly (readonly number[])[]): void | Promise<void>;
  /** Checked before each step; true ends the generation where it is. */
  shouldStop?(): boolean;
}

export interface GenerateResult {
  /** Per row: the prompt's real tokens, then the generated ones (up to and including an end-of-sequence id). */
  sequences: number[][];
  /** Per row: the generated tokens only. */
  generated: number[][];
}

const int64 = (values: readonly number[]) => BigInt64Array.from(values, (v) => BigInt(v));

/** The prompts as a rectangular (B, Tp) batch with its mask; unpadded rows are left-padded with 0. */
function promptBatch(req: GenerateRequest): { ids: number[][]; mask: number[][] } {
  if (req.prompts.length === 0) throw new UserInputError('generation needs at least one prompt', ['prompts']);
  const width = Math.max(...req.prompts.map((p) => p.length));
  if (req.attentionMask) {
    req.prompts.forEach((p, i) => {
      if (p.length !== width || req.attentionMask![i]?.length !== width) {
        throw new UserInputError(
          `prompt row ${i}: padded prompts and their mask must all have length ${width}`,
          ['prompts'],
        );
      }
    });
  }
  const ids = req.prompts.map((p) => [...Array<number>(width - p.length).fill(0), ...p]);
  const mask =
    req.attentionMask?.map((row) => row.map((v) => (v ? 1 : 0))) ??
    req.prompts.map((p) => [...Array<number>(width - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
  mask.forEach((row, i) => {
    if (!row.includes(1)) throw new UserInputError(`prompt row ${i} has no tokens`, ['prompts']);
  });
  return { ids, mask };
}

/** Host-side layout of the batch: ids and mask per slot, [virtual | prompt | generated]. */
class Slots {
  readonly ids: number[][];
  readonly mask: number[][];

  constructor(
    readonly virtual: number,
    readonly promptWidth: number,
    readonly total: number,
    prompt: { ids: number[][]; mask: number[][] },
  ) {
    const tail = total - virtual - promptWidth;
    this.ids = prompt.ids.map((r) => [
      ...Array<number>(virtual).fill(0),
      ...r,
      ...Array<number>(tail).fill(0),
    ]);
    this.mask = prompt.mask.map((r) => [
      ...Array<number>(virtual).fill(1),
      ...r,
      ...Array<number>(tail).fill(0),
    ]);
  }

  get batch(): number {
    return this.ids.length;
  }

  set(slot: number, tokens: readonly number[]): void {
    tokens.forEach((t, b) => {
      this.ids[b][slot] = t;
      this.mask[b][slot] = 1;
    });
  }

  /** Positions of slots [from, to): the count of real slots before each (0 where masked: never attended). */
  positions(from: number, to: number): number[] {
    return this.mask.flatMap((row) => {
      let real = row.slice(0, from).reduce((s, v) => s + v, 0);
      return row.slice(from, to).map((v) => (v ? real++ : 0));
    });
  }

  /** Per row, the last real slot below `end`, relative to `from`. */
  lastReal(from: number, end: number): number[] {
    return this.mask.map((row) => row.lastIndexOf(1, end - 1) - from);
  }

  /** ids of slots [from, to) as (B, to - from). */
  idsIn(from: number, to: number): number[] {
    return this.ids.flatMap((r) => r.slice(from, to));
  }

  maskIn(from: number, to: number): number[] {
    return this.mask.flatMap((r) => r.slice(from, to));
  }
}

/** One generation's model runs: `step(k)` gives the logits (B, 1, V) for new token k; `release` frees its caches. */
interface Stepper {
  step(k: number): Promise<Float32Array>;
  release(): void;
}

/** Free device-resident caches (gpu-buffer outputs are held until disposed). */
function releaseDevice(caches: Record<string, Feed>): void {
  for (const t of Object.values(caches))
    if (t instanceof ort.Tensor && t.location === 'gpu-buffer') t.dispose();
}

export interface CachedRunShape {
  batch: number;
  promptWidth: number;
  /** Cache slots. */
  total: number;
  virtual: number;
  /** The prompt run (all prompt columns, logits at each row's last real token) or one decode step. */
  prefill: boolean;
  dtype: 'int32' | 'int64';
  adapter?: ResolvedAdapter;
  /**
   * 'present': the whole caches after the write (present.<i>.key/value), kept on the device between WebGPU runs.
   * 'fresh': only the slots this run wrote (fresh.<i>.key/value, (B, Hkv, written, D)); the host writes them into
   * its one copy of the caches, so no run hands whole caches back (CPU).
   */
  cacheOutputs: 'present' | 'fresh';
  /** Blocked attention (MemoryLayout.attentionBlock) in the prefill; default plain. */
  memoryLayout?: MemoryLayout;
}

/** A prefill or decode run with the static KV cache: inputs past.<i>.key/value, outputs logits and the caches. */
export function buildCachedRun(g: Graph, model: LoadedModel, r: CachedRunShape): void {
  const c = model.config;
  const cacheShape = [r.batch, c.numKvHeads, r.total, c.headDim];
  const t = r.prefill ? r.promptWidth : 1;
  const layers: LayerCache[] = Array.from({ length: c.numLayers }, (_, i) => ({
    key: g.input(`past.${i}.key`, cacheShape, 'float32'),
    value: g.input(`past.${i}.value`, cacheShape, 'float32'),
  }));
  const slot = g.input('cache_slot', [], r.dtype);
  const out = buildCausalLM(g, model, {
    inputIds: g.input('input_ids', [r.batch, t], r.dtype),
    attentionMask: g.input('attention_mask', [r.batch, r.total], r.dtype),
    positionIds: g.input('position_ids', [r.batch, (r.prefill ? r.virtual : 0) + t], r.dtype),
    policy: 'frozen',
    adapter: r.adapter,
    cache: { layers, slot, prefill: r.prefill },
    logitsAt: r.prefill ? g.input('logits_at', [r.batch], r.dtype) : undefined,
    memoryLayout: r.memoryLayout,
  });
  g.output('logits', out.logits);
  const written = op.add(op.arange(g, 0, writtenSlots(r), r.dtype), slot); // slot, slot + 1, ...
  out.present!.forEach((p, i) => {
    const pick = (x: Tensor) => (r.cacheOutputs === 'present' ? x : op.gather(x, written, 2));
    g.output(`${r.cacheOutputs}.${i}.key`, pick(p.key));
    g.output(`${r.cacheOutputs}.${i}.value`, pick(p.value));
  });
}

/** Cache slots one run writes: the virtual tokens and the prompt in the prefill, one token in a decode step. */
const writtenSlots = (r: Pick<CachedRunShape, 'prefill' | 'virtual' | 'promptWidth'>) =>
  r.prefill ? r.virtual + r.promptWidth : 1;

/** Write a run's fresh slots (B, Hkv, n, D) into the host's caches (B, Hkv, total, D) from slot `start`. */
function writeSlots(cache: Float32Array, fresh: Float32Array, start: number, shape: readonly number[]): void {
  const [b, h, total, d] = shape;
  const n = fresh.length / (b * h * d);
  for (let row = 0; row < b * h; row++) {
    cache.set(fresh.subarray(row * n * d, (row + 1) * n * d), (row * total + start) * d);
  }
}

export class Generator {
  private readonly sessions = new Map<string, Promise<Session>>();
  /** 'fold': the float32 copy of 16-bit weights the CPU decode sessions share. */
  private readonly floatWeights = new FloatWeights();

  constructor(
    readonly model: LoadedModel,
    readonly opts: GeneratorOptions = {},
  ) {}

  private get virtual(): number {
    const a = this.opts.adapter;
    return a?.kind === 'prompt' ? a.numVirtualTokens : 0;
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const c = this.model.config;
    if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1) {
      throw new UserInputError(`maxNewTokens must be a positive integer, got ${req.maxNewTokens}`, [
        'maxNewTokens',
      ]);
    }
    const given = promptBatch(req);
    const longest = Math.max(...given.mask.map((r) => r.reduce((s, v) => s + v, 0)));
    checkSequenceLength(c, this.virtual + longest + req.maxNewTokens, 'prompt length + maxNewTokens');
    const { width, slots: total } = generationShape(
      { promptWidth: given.ids[0].length, virtualTokens: this.virtual, maxNewTokens: req.maxNewTokens },
      this.opts.buckets,
    );
    const extra = (row: number[]) => [...Array<number>(width - row.length).fill(0), ...row];
    const prompt = { ids: given.ids.map(extra), mask: given.mask.map(extra) };
    const slots = new Slots(this.virtual, width, total, prompt);
    const eos = new Set(req.eosTokenIds ?? c.eosTokenIds);
    const rng = req.sampling ? Rng.fromSeed(req.sampling.seed) : null;
    for (let i = 0; rng && i < (req.sampling?.drawn ?? 0); i++) rng.next();
    const pick = (logits: Float32Array, row: number) =>
      rng && req.sampling
        ? sampleToken(logits, row * c.vocabSize, c.vocabSize, req.sampling, () => rng.next())
        : argmax(logits, row * c.vocabSize, c.vocabSize);

    const generated: number[][] = slots.ids.map(() => []);
    const done = slots.ids.map(() => false);
    const stepper = req.useCache === false ? await this.fullStepper(slots) : await this.cachedStepper(slots);
    try {
      for (let k = 0; k < req.maxNewTokens && done.includes(false) && !req.shouldStop?.(); k++) {
        const logits = await stepper.step(k); // (B, 1, V)
        const next = slots.ids.map((_, b) => (done[b] ? 0 : pick(logits, b)));
        slots.set(this.virtual + width + k, next);
        next.forEach((t, b) => {
          if (done[b]) return;
          generated[b].push(t);
          if (eos.has(t)) done[b] = true;
        });
        await req.onStep?.(generated);
      }
    } finally {
      stepper.release();
    }
    const sequences = prompt.ids.map((row, b) => [
      ...row.filter((_, j) => prompt.mask[b][j]),
      ...generated[b],
    ]);
    return { sequences, generated };
  }

  /** Number of sessions made and kept (for tests and diagnostics). */
  get compiledSessions(): number {
    return this.sessions.size;
  }

  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) await (await s).release();
  }

  /**
   * One session per graph shape; `build` fills the graph. `fold`: on the CPU, the session reads the shared float32
   * copy of 16-bit weights (unless halfWeights is 'cast'), else casts at each use. A device's sessions all fold
   * their own, as before (not yet measured casting at each use on a GPU), unless halfWeights is 'cast'.
   */
  private async session(key: string, build: (g: Graph) => void, fold: boolean): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      const g = providerGraph(this.opts.executionProvider);
      build(g);
      const ep = this.opts.executionProvider ?? 'cpu';
      const cpu = ep === 'cpu';
      const folds = (fold || !cpu) && (this.opts.halfWeights ?? 'fold') === 'fold' && g.hasHalfInitializers;
      // On WebGPU the caches stay on the device between runs; only the logits come back.
      const present = [...g.outputs.keys()].filter((name) => name.startsWith('present.'));
      s = createSession(g, {
        executionProvider: ep,
        threads: this.opts.threads,
        castHalfWeights: !folds,
        floatWeights: this.floatWeights,
        preferredOutputLocation:
          ep !== 'webgpu' || present.length === 0
            ? undefined
            : Object.fromEntries(present.map((name) => [name, 'gpu-buffer' as const])),
      });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Cached decoding: step 0 prefills the prompt; step k > 0 feeds the token generated at step k - 1. */
  private async cachedStepper(slots: Slots): Promise<Stepper> {
    const c = this.model.config;
    const { batch, total, virtual, promptWidth } = slots;
    const cacheShape = [batch, c.numKvHeads, total, c.headDim];
    const dtype = providerInts(this.opts.executionProvider);
    const ints = (values: readonly number[]) => (dtype === 'int32' ? Int32Array.from(values) : int64(values));
    // On WebGPU the caches stay on the device between runs; on the CPU the host keeps the one copy.
    const cacheOutputs = this.opts.executionProvider === 'webgpu' ? 'present' : 'fresh';
    // WebGPU: scores in blocks of query rows where whole they would exceed a storage binding (the prefill's).
    const fitted = (prefill: boolean) =>
      providerMemoryLayout(this.opts.executionProvider, undefined, c, {
        batch,
        tokens: prefill ? virtual + promptWidth : 1,
        keys: total,
      });
    const graphFor = (prefill: boolean) => (g: Graph) =>
      buildCachedRun(g, this.model, {
        batch,
        promptWidth,
        total,
        virtual,
        prefill,
        dtype,
        adapter: this.opts.adapter,
        cacheOutputs,
        memoryLayout: fitted(prefill),
      });
    const prefill = await this.session(`prefill:${batch}x${promptWidth}/${total}`, graphFor(true), false);
    // Made once the prefill has run: the float32 copy and the prefill's casts do not coexist the first time.
    // A decode step's graph does not depend on the prompt width.
    const decode = () => this.session(`decode:${batch}/${total}`, graphFor(false), true);
    const zeros = () =>
      new ort.Tensor('float32', new Float32Array(cacheShape.reduce((a, b) => a * b, 1)), cacheShape);
    const names = Array.from({ length: c.numLayers }, (_, i) => [`${i}.key`, `${i}.value`]).flat();
    // The host's caches ('fresh': one each, written in place), or the prefill's empty ones ('present': shared).
    const empty = cacheOutputs === 'present' ? zeros() : null;
    let caches: Record<string, Feed> = Object.fromEntries(
      names.map((name) => [`past.${name}`, empty ?? zeros()]),
    );

    const step = async (k: number) => {
      const start = k === 0 ? 0 : virtual + promptWidth + k - 1; // first slot this run writes
      const end = virtual + promptWidth + k;
      const feeds: Record<string, Feed> = {
        ...caches,
        input_ids: {
          data: ints(slots.idsIn(k === 0 ? virtual : start, end)),
          shape: [batch, end - (k === 0 ? virtual : start)],
        },
        attention_mask: { data: ints(slots.mask.flat()), shape: [batch, total] },
        position_ids: { data: ints(slots.positions(start, end)), shape: [batch, end - start] },
        cache_slot: { data: ints([start]), shape: [] },
      };
      if (k === 0) feeds.logits_at = { data: ints(slots.lastReal(virtual, end)), shape: [batch] };
      const out = await (k === 0 ? prefill : await decode()).run(feeds);
      if (cacheOutputs === 'fresh') {
        for (const name of names) {
          const cache = (caches[`past.${name}`] as ort.Tensor).data as Float32Array;
          writeSlots(cache, out[`fresh.${name}`].data as Float32Array, start, cacheShape);
        }
      } else {
        releaseDevice(caches);
        caches = Object.fromEntries(names.map((name) => [`past.${name}`, out[`present.${name}`]]));
      }
      return out.logits.data as Float32Array;
    };
    return { step, release: () => releaseDevice(caches) };
  }

  /** Uncached decoding: the full (B, Tp + maxNew) sequence, future slots masked, at every step. */
  private async fullStepper(slots: Slots): Promise<Stepper> {
    const { batch, total, virtual, promptWidth } = slots;
    const text = total - virtual;
    const session = await this.session(
      `full:${batch}x${text}`,
      (g) => {
        const out = buildCausalLM(g, this.model, {
          inputIds: g.input('input_ids', [batch, text], 'int64'),
          attentionMask: g.input('attention_mask', [batch, text], 'int64'),
          positionIds: g.input('position_ids', [batch, total], 'int64'),
          policy: 'frozen',
          adapter: this.opts.adapter,
          logitsAt: g.input('logits_at', [batch], 'int64'),
        });
        g.output('logits', out.logits);
      },
      true,
    );
    const step = async (k: number) => {
      const out = await session.run({
        input_ids: { data: int64(slots.idsIn(virtual, total)), shape: [batch, text] },
        attention_mask: { data: int64(slots.maskIn(virtual, total)), shape: [batch, text] },
        position_ids: { data: int64(slots.positions(0, total)), shape: [batch, total] },
        logits_at: { data: int64(slots.lastReal(virtual, virtual + promptWidth + k)), shape: [batch] },
      });
      return out.logits.data as Float32Array;
    };
    return { step, release: () => undefined };
  }
}

/** Decoded text of generated ids (special tokens dropped). */
export function decodeText(m: LoadedModel, ids: readonly number[]): string {
  return m.tokenizer.decode(ids, { skipSpecialTokens: true });
}
