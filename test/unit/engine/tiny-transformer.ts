/**
 * A two-block pre-norm transformer built from the engine's nn composites, for the placement and precision tests:
 * embedding Gather, causal attention with a padding bias, an RMSNorm + SwiGLU block and a LayerNorm + GELU block,
 * LM head and cross-entropy; plus a host loop that trains it with AdamW.
 */
import * as ort from 'onnxruntime-node';
import { Graph, Tensor } from '../../../src/engine/graph';
import * as nn from '../../../src/engine/nn';
import * as op from '../../../src/engine/ops';
import { adamWFeeds, ADAMW_DEFAULTS, stateNames } from '../../../src/engine/optim';
import { DynamicLossScaler } from '../../../src/engine/precision';
import { ExecutionProvider, Feed, createSession } from '../../../src/engine/session';
import { randn } from './helpers';

export const TINY = { B: 2, T: 4, C: 8, H: 2, V: 16, F: 12 };
const { B, T, C, H, V, F } = TINY;

export type IntDType = 'int32' | 'int64';

/** Split the last axis into heads: (B, T, C) -> (B, H, T, C / H). */
const heads = (x: Tensor) => op.transpose(op.reshape(x, [B, T, H, C / H]), [0, 2, 1, 3]);

/** Mean cross-entropy of the tiny transformer on inputs input_ids, attention_mask, labels (B, T) of `ints`. */
export function tinyTransformerLoss(g: Graph, ints: IntDType): { loss: Tensor; params: Tensor[] } {
  const ids = g.input('input_ids', [B, T], ints);
  const mask = g.input('attention_mask', [B, T], ints);
  const labels = g.input('labels', [B, T], ints);
  const params: Tensor[] = [];
  const param = (name: string, shape: number[]) => {
    const p = g.param(name, shape);
    params.push(p);
    return p;
  };
  let h = op.gather(param('embed', [V, C]), ids); // (B, T, C)
  const bias = nn.attentionBias(g, mask); // (B, 1, T, T)
  for (const [i, kind] of (['llama', 'gpt2'] as const).entries()) {
    const norm = (x: Tensor, which: string) =>
      kind === 'llama'
        ? nn.rmsNorm(x, param(`${i}.${which}.w`, [C]), 1e-6)
        : nn.layerNorm(x, param(`${i}.${which}.w`, [C]), param(`${i}.${which}.b`, [C]), 1e-5);
    const x = norm(h, 'ln1');
    const [q, k, v] = ['q', 'k', 'v'].map((n) => heads(nn.linear(x, param(`${i}.${n}`, [C, C]))));
    const scores = op.add(op.div(op.matmul(q, op.transposeLast2(k)), Math.sqrt(C / H)), bias); // (B, H, T, T)
    const attn = op.matmul(op.softmax(scores), v); // (B, H, T, D)
    const merged = op.reshape(op.transpose(attn, [0, 2, 1, 3]), [B, T, C]);
    h = op.add(h, nn.linear(merged, param(`${i}.o`, [C, C]), param(`${i}.o.b`, [C])));
    const y = norm(h, 'ln2');
    const up = nn.linear(y, param(`${i}.up`, [F, C]));
    const act =
      kind === 'llama'
        ? op.mul(nn.silu(nn.linear(y, param(`${i}.gate`, [F, C]))), up)
        : op.add(nn.geluTanh(up), nn.geluErf(up));
    h = op.add(h, nn.linear(act, param(`${i}.down`, [C, F])));
  }
  const logits = nn.linear(nn.rmsNorm(h, param('norm', [C]), 1e-6), param('lm_head', [V, C])); // (B, T, V)
  return { loss: nn.crossEntropy(logits, labels), params };
}

/** Norm weights 1, biases 0, matrices normal(0, 0.3) (seeded by position). */
export function initialValues(params: readonly Tensor[]): Map<string, Float32Array> {
  return new Map(
    params.map((p, i) => {
      if (p.rank === 2) return [p.name, randn(p.shape, 100 + i, 0.3)];
      return [p.name, new Float32Array(p.size).fill(p.name.endsWith('.b') ? 0 : 1)];
    }),
  );
}

/** Ids, a mask with padding at the end of the second row, and labels with ignored (-100) positions. */
export function batchFeeds(ints: IntDType): Record<string, Feed> {
  const ids = [3, 7, 1, 12, 5, 9, 15, 0];
  const mask = [1, 1, 1, 1, 1, 1, 0, 0];
  const labels = [7, 1, 12, -100, 9, 15, -100, -100];
  const data = (v: number[]) => (ints === 'int64' ? BigInt64Array.from(v.map(BigInt)) : Int32Array.from(v));
  return { input_ids: data(ids), attention_mask: data(mask), labels: data(labels) };
}

export interface Trajectory {
  /** Loss and gradient norm of every run (skipped ones included), measured before its update. */
  losses: number[];
  gradNorms: number[];
  /** Whether each run's update was applied (always, without a loss scaler). */
  applied: boolean[];
  values: Map<string, Float32Array>;
}

/**
 * Train a step graph (outputs loss, grad_norm and appendAdamW's state) from `initial` until `steps` updates are
 * applied. With a loss scaler the graph reads its `loss_scale` feed; a run whose gradient norm overflowed is
 * skipped by the graph, the scaler backs off and AdamW's step count does not advance (as with GradScaler).
 */
export async function train(
  g: Graph,
  initial: Map<string, Float32Array>,
  steps: number,
  lr: number,
  opts: { ints: IntDType; ep?: ExecutionProvider; scaler?: DynamicLossScaler },
): Promise<Trajectory> {
  const session = await createSession(g, { executionProvider: opts.ep ?? 'cpu', threads: 1 });
  const state: Record<string, Feed> = {};
  for (const [name, v] of initial) {
    const n = stateNames(name);
    state[name] = v;
    state[n.expAvgIn] = new Float32Array(v.length);
    state[n.expAvgSqIn] = new Float32Array(v.length);
  }
  const t: Trajectory = { losses: [], gradNorms: [], applied: [], values: new Map() };
  for (let done = 0; done < steps && t.losses.length < steps + 40;) {
    const out = await session.run({
      ...batchFeeds(opts.ints),
      ...state,
      ...adamWFeeds(done + 1, lr, ADAMW_DEFAULTS),
      ...(opts.scaler?.feed() ?? {}),
    });
    const norm = Number(out.grad_norm.data[0]);
    const applied = opts.scaler ? opts.scaler.update(norm) : true;
    t.losses.push(Number(out.loss.data[0]));
    t.gradNorms.push(norm);
    t.applied.push(applied);
    if (!applied) continue; // an overflowed step's outputs are dropped, as the trainer does
    done++;
    for (const name of initial.keys()) {
      const n = stateNames(name);
      state[name] = out[n.param] as ort.Tensor;
      state[n.expAvgIn] = out[n.expAvg];
      state[n.expAvgSqIn] = out[n.expAvgSq];
    }
  }
  await session.release();
  for (const n of initial.keys()) t.values.set(n, (state[n] as ort.Tensor).data as Float32Array);
  return t;
}
