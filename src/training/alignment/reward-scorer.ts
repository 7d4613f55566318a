/**
 * Scoring token sequences with a frozen reward model: the score head at each sequence's last token, the
 * sequences run as right-padded batches (lengths rounded up to `bucket` so few graph shapes are compiled; one
 * session per shape, weights as initializers loaded once per session).
 */
import { providerGraph } from '../../engine/layout';
import * as op from '../../engine/ops';
import { ExecutionProvider, Session, createSession } from '../../engine/session';
import { lastTokenIndex } from '../../models/families/builder';
import { LoadedModel, buildCausalLM } from '../../models/model';
import { PaddedRows, padRows } from './padding';

export interface ScorerOptions {
  executionProvider?: ExecutionProvider;
  threads?: number;
  /** Pad lengths up to a multiple of this. Default 16. */
  bucket?: number;
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
    const rows = padRows(sequences, c.padTokenId ?? 0, this.opts.bucket ?? 16, c.maxPositionEmbeddings);
    const session = await this.session(rows);
    const out = await session.run({ input_ids: rows.ids, attention_mask: rows.mask });
    return Array.from(out.rewards.data as Float32Array);
  }

  async release(): Promise<void> {
    const all = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((s) => s.release()));
  }

  private session(rows: PaddedRows): Promise<Session> {
    const [b, t] = rows.shape;
    const key = `${b}x${t}`;
    let s = this.sessions.get(key);
    if (!s) {
      const g = providerGraph(this.opts.executionProvider);
      const attentionMask = g.input('attention_mask', [b, t], 'int64');
      const out = buildCausalLM(g, this.model, {
        inputIds: g.input('input_ids', [b, t], 'int64'),
        attentionMask,
        policy: 'frozen',
        head: 'score',
        logitsAt: lastTokenIndex(attentionMask),
      });
      g.output('rewards', op.reshape(out.logits, [b])); // (B, 1, 1) -> (B)
      s = createSession(g, {
        executionProvider: this.opts.executionProvider ?? 'cpu',
        threads: this.opts.threads,
      });
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }
}
