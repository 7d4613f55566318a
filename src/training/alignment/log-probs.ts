/**
 * Per-token log-probabilities of token sequences under a causal LM, forward only: the frozen reference of DPO and
 * RL, and the sampling policy's "old" log-probabilities in RL. The model is any CausalLMForward: a frozen one
 * (weights as initializers), or a trainable parameterization whose current values are fed as inputs, so one
 * session serves every step of a run (and, fed other values, the reference too).
 *
 * Alignment is that of shifted labels: position t holds log p(ids[t + 1] | ids[..t]), and 0 where ids[t + 1] is
 * not scored (before `from`, or padding).
 */
import * as ort from 'onnxruntime-node';
import { Graph } from '../../engine/graph';
import { providerGraph, providerInts } from '../../engine/layout';
import * as op from '../../engine/ops';
import { Feed, Session, createSession } from '../../engine/session';
import { IGNORE_INDEX } from '../../data/examples';
import { HostTensor } from '../objective';
import { int32Tensor } from '../int32-batch';
import { ortTensor } from '../ort-tensors';
import { CausalLMForward } from '../parameterization';
import { shiftLabels, targetCrossEntropy } from '../sft';
import { BesideTrainingOptions, besideTrainingSession } from '../beside-training';
import { PaddingOptions, SCORED_BUCKET, padRows } from './padding';

export interface ScoredRow {
  ids: readonly number[];
  /** Tokens ids[from..] are scored (e.g. the response after its prompt); from >= 1. */
  from: number;
}

export interface TokenLogProbsResult {
  /** (N, T) row-major; T is the padded length. */
  values: Float32Array;
  shape: [number, number];
}

/** Blocked attention and a chunked head follow `memoryLayout` (no backward here, so nothing is recomputed). */
export type LogProbsOptions = BesideTrainingOptions;

/** Scored rows as graph feeds: input_ids, attention_mask and labels (the scored tokens, else IGNORE_INDEX). */
export interface ScoredBatch {
  tensors: { input_ids: HostTensor; attention_mask: HostTensor; labels: HostTensor };
  shape: [number, number];
}

interface Compiled {
  session: Session;
  paramNames: string[];
  noiseNames: { name: string; size: number }[];
}

/** Rows right-padded into (N, T) with labels: ids at positions >= from, IGNORE_INDEX elsewhere. */
export function scoredBatch(rows: readonly ScoredRow[], o: PaddingOptions = {}): ScoredBatch {
  const padded = padRows(
    rows.map((r) => r.ids),
    o.padTokenId ?? 0,
    o.bucket ?? SCORED_BUCKET,
    o.maxLength,
  );
  const [n, t] = padded.shape;
  const labels = new BigInt64Array(n * t).fill(BigInt(IGNORE_INDEX));
  rows.forEach((r, b) => {
    if (r.from < 1) throw new Error(`scored rows start at token 1 or later, got ${r.from}`);
    for (let j = r.from; j < r.ids.length; j++) labels[b * t + j] = BigInt(r.ids[j]);
  });
  const int64 = (data: BigInt64Array): HostTensor => ({ data, shape: [n, t], dtype: 'int64' });
  return {
    tensors: {
      input_ids: int64(padded.ids.data),
      attention_mask: int64(padded.mask.data),
      labels: int64(labels),
    },
    shape: [n, t],
  };
}

/** The graph of one (N, T) shape, laid out for the provider: output `logps` (N, T). */
export function buildLogProbsGraph(
  forward: CausalLMForward,
  [n, t]: readonly [number, number],
  opts: LogProbsOptions,
): { graph: Graph; out: ReturnType<CausalLMForward> } {
  const g = providerGraph(opts.executionProvider);
  const ints = providerInts(opts.executionProvider);
  const out = forward(g, {
    inputIds: g.input('input_ids', [n, t], ints),
    attentionMask: g.input('attention_mask', [n, t], ints),
    memoryLayout: opts.memoryLayout,
  }); // logits (N, T, V)
  const losses = targetCrossEntropy(out, shiftLabels(g.input('labels', [n, t], ints)), 'none'); // (N, T), 0 where ignored
  g.output('logps', op.neg(losses));
  return { graph: g, out };
}

export class TokenLogProbs {
  private readonly sessions = new Map<string, Promise<Compiled>>();
  private readonly ints: 'int32' | 'int64';

  constructor(
    private readonly forward: CausalLMForward,
    private readonly opts: LogProbsOptions = {},
  ) {
    this.ints = providerInts(opts.executionProvider);
  }

  /** Log-probabilities of the scored tokens; `values` feeds the forward's trainables (none for a frozen one). */
  async run(
    batch: ScoredBatch,
    values: ReadonlyMap<string, ort.Tensor | HostTensor> = new Map(),
  ): Promise<TokenLogProbsResult> {
    const [n, t] = batch.shape;
    const c = await this.compiled(n, t);
    const feeds: Record<string, Feed> = {};
    for (const [name, x] of Object.entries(batch.tensors)) {
      const fed = this.ints === 'int32' ? int32Tensor(name, x) : x;
      feeds[name] = ortTensor(fed.data, fed.shape, fed.dtype);
    }
    for (const name of c.paramNames) {
      const v = values.get(name);
      if (!v) throw new Error(`TokenLogProbs: no value for trainable '${name}'`);
      feeds[name] = 'dims' in v ? v : ortTensor(v.data, v.shape, v.dtype);
    }
    for (const { name, size } of c.noiseNames) feeds[name] = new Float32Array(size).fill(1); // no dropout
    const out = await c.session.run(feeds);
    return { values: out.logps.data as Float32Array, shape: [n, t] };
  }

  /** Summed log-probability of each row's scored tokens. */
  async sums(batch: ScoredBatch, values?: ReadonlyMap<string, ort.Tensor | HostTensor>): Promise<number[]> {
    const { values: lp, shape } = await this.run(batch, values);
    const [n, t] = shape;
    return Array.from({ length: n }, (_, b) => lp.subarray(b * t, (b + 1) * t).reduce((s, v) => s + v, 0));
  }

  async release(): Promise<void> {
    const all = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((c) => c.session.release()));
  }

  private compiled(n: number, t: number): Promise<Compiled> {
    const key = `${n}x${t}`;
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = (async () => {
        const { graph: g, out } = buildLogProbsGraph(this.forward, [n, t], this.opts);
        const session = await createSession(g, besideTrainingSession(this.opts));
        const paramNames = [...out.params.keys()].filter((p) => session.inputNames.includes(p));
        const noiseNames = (out.noise ?? [])
          .filter((x) => session.inputNames.includes(x.input.name))
          .map((x) => ({ name: x.input.name, size: x.input.size }));
        return { session, paramNames, noiseNames };
      })();
      this.sessions.set(key, entry);
      entry.catch(() => this.sessions.delete(key));
    }
    return entry;
  }
}
