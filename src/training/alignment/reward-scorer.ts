/**
 * Scoring token sequences with a frozen reward model: the score head at each sequence's last token, the
 * sequences run as right-padded batches (lengths rounded up to `bucket` so few graph shapes are compiled; one
 * session per shape, mapped weights shared by them, on the CPU 16-bit ones cast at each use; a model whose weights
 * come from the host keeps only its latest shape's session). Calls run one at a time.
 */
import { Graph } from '../../engine/graph';
import { providerGraph, providerInts } from '../../engine/layout';
import * as op from '../../engine/ops';
import { ExecutionProvider, Session, createSession } from '../../engine/session';
import { lastTokenIndex } from '../../models/families/builder';
import { LoadedModel, buildCausalLM } from '../../models/model';
import { providerMemoryLayout } from '../../models/webgpu-fit';
import { REWARD_BUCKET } from '../memory-plan';
import { PaddedRows, padRows } from './padding';

export interface ScorerOptions {
  executionProvider?: ExecutionProvider;
  threads?: number;
  /** Pad lengths up to a multiple of this. Default memory-plan.ts `REWARD_BUCKET`, which its estimate assumes. */
  bucket?: number;
}

/**
 * The scoring graph of (B, T) rows laid out for `ep`: inputs input_ids and attention_mask in the provider's integer
 * dtype (engine/layout `providerInts`), output `rewards` (B), the score head at each row's last real token. On
 * webgpu attention is blocked where its scores would exceed a storage binding (models/webgpu-fit.ts), unless
 * `memoryLayout` is given.
 */
export function buildRewardGraph(
  model: LoadedModel,
  [b, t]: readonly [number, number],
  ep: ExecutionProvider | undefined,
  memoryLayout = providerMemoryLayout(ep, undefined, model.config, { batch: b, tokens: t }),
): Graph {
  const g = providerGraph(ep);
  const ints = providerInts(ep);
  const attentionMask = g.input('attention_mask', [b, t], ints);
  const out = buildCausalLM(g, model, {
    inputIds: g.input('input_ids', [b, t], ints),
    attentionMask,
    policy: 'frozen',
    head: 'score',
    logitsAt: lastTokenIndex(attentionMask),
    memoryLayout,
  });
  g.output('rewards', op.reshape(out.logits, [b])); // (B, 1, 1) -> (B)
  return g;
}

export class RewardScorer {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(
    /** A one-label sequence-classification model (see withScoreHead / loadRewardModel). */
    readonly model: LoadedModel,
    private readonly opts: ScorerOptions = {},
  ) {
    if (model.config.head !== 'sequence_classification' || model.config.numLabels !== 1) {
      throw new Error(`RewardScorer: ${model.dir} is not a one-label sequence-classification model`);
    }
  }

  /** One reward per sequence (each a full prompt + completion, no padding). */
  async score(sequences: readonly (readonly number[])[]): Promise<number[]> {
    const c = this.model.config;
    const rows = padRows(
      sequences,
      c.padTokenId ?? 0,
      this.opts.bucket ?? REWARD_BUCKET,
      c.maxPositionEmbeddings,
    );
    const session = await this.session(rows);
    // WebGPU: int32 ids and mask (their arithmetic in int64 would run on the CPU).
    const ints = (t: PaddedRows['ids']) =>
      providerInts(this.opts.executionProvider) === 'int32'
        ? { ...t, data: Int32Array.from(t.data, Number) }
        : t;
    const out = await session.run({ input_ids: ints(rows.ids), attention_mask: ints(rows.mask) });
    return Array.from(out.rewards.data as Float32Array);
  }

  async release(): Promise<void> {
    const all = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((s) => s.release()));
  }

  private async session(rows: PaddedRows): Promise<Session> {
    const [b, t] = rows.shape;
    const key = `${b}x${t}`;
    let s = this.sessions.get(key);
    if (!s) {
      const g = buildRewardGraph(this.model, [b, t], this.opts.executionProvider);
      // Weights from the host (a merged LoRA reward model's) are copied by each session: only the latest shape's
      // session is kept then (memory-plan.ts counts one). Mapped weights are shared by every session.
      const hidden = this.model.config.hiddenSize;
      const copied = g.tensors.some((x) => x.kind === 'initializer' && x.mapped === null && x.size > hidden);
      if (copied) await this.release();
      const cpu = (this.opts.executionProvider ?? 'cpu') === 'cpu';
      // On the CPU a 16-bit checkpoint's weights are cast at each use, so no session (one per shape) holds a
      // float32 copy of them (memory-plan.ts `estimateRewardScoring`).
      s = createSession(g, {
        executionProvider: this.opts.executionProvider ?? 'cpu',
        threads: this.opts.threads,
        castHalfWeights: cpu,
      });
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }
}
