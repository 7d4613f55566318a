/**
 * Evaluation of an Objective on held-out batches (e.g. a reward model's validation split): its forward pass and
 * loss only, no gradients, with the current trainable values fed as inputs. Loss and metrics are averaged as the
 * trainer averages them over an optimizer step: sum over all batches / summed weight. Dropout is off (keep masks
 * of ones), as in evaluation mode. One session per batch shape, kept until release().
 */
import * as ort from 'onnxruntime-node';
import { Graph, Tensor } from '../../engine/graph';
import { providerGraph } from '../../engine/layout';
import * as op from '../../engine/ops';
import { ExecutionProvider, Feed, Session, createSession } from '../../engine/session';
import { MemoryLayout } from '../../models/memory-layout';
import { Batch, HostTensor, NoiseInput, Objective } from '../objective';
import { ortTensor } from '../ort-tensors';
import { BesideTrainingOptions, besideTrainingSession } from '../beside-training';
import { batchSignature } from '../step-graphs';
import { providerBatch } from '../int32-batch';

export interface EvaluationResult {
  loss: number;
  metrics: Record<string, number>;
  examples: number;
}

interface Compiled {
  session: Session;
  metricNames: string[];
  paramNames: string[];
  noise: readonly NoiseInput[];
}

const scalar = (t: Tensor) => {
  const f = t.dtype === 'float32' ? t : op.cast(t, 'float32');
  return f.rank === 0 ? f : op.reshape(f, []);
};

/**
 * The evaluation graph of one batch shape laid out for the provider: the objective's forward pass and loss, outputs
 * loss_sum, weight and metric.<name>. Give it the batch as fed (`providerBatch`: int32 on WebGPU).
 */
export function buildEvaluationGraph(
  objective: Objective,
  batch: Batch,
  opts: { executionProvider?: ExecutionProvider; memoryLayout?: MemoryLayout },
): Omit<Compiled, 'session'> & { graph: Graph } {
  const g = providerGraph(opts.executionProvider);
  const inputs: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(batch.tensors)) inputs[name] = g.input(name, t.shape, t.dtype);
  const out = objective.build(g, inputs, opts.memoryLayout);
  g.output('loss_sum', scalar(out.lossSum));
  g.output('weight', scalar(out.weight));
  const metricNames = Object.keys(out.metricSums ?? {});
  for (const m of metricNames) g.output(`metric.${m}`, scalar(out.metricSums![m]));
  return { graph: g, metricNames, paramNames: [...out.params.keys()], noise: out.noise ?? [] };
}

export class Evaluator {
  private readonly sessions = new Map<string, Promise<Compiled>>();

  constructor(
    readonly objective: Objective,
    private readonly opts: BesideTrainingOptions = {},
  ) {}

  async evaluate(
    values: ReadonlyMap<string, ort.Tensor | HostTensor>,
    batches: readonly Batch[],
  ): Promise<EvaluationResult> {
    if (batches.length === 0) throw new Error('Evaluator: no batches');
    let lossSum = 0;
    let weight = 0;
    let examples = 0;
    const sums: Record<string, number> = {};
    // WebGPU: int32 ids, masks and labels keep every node on the device (int32-batch.ts).
    for (const batch of batches.map((b) => providerBatch(b, this.opts.executionProvider))) {
      const c = await this.compiled(batch);
      const feeds: Record<string, Feed> = {};
      for (const [name, t] of Object.entries(batch.tensors)) {
        if (c.session.inputNames.includes(name)) feeds[name] = ortTensor(t.data, t.shape, t.dtype);
      }
      for (const name of c.paramNames) {
        if (!c.session.inputNames.includes(name)) continue;
        const v = values.get(name);
        if (!v) throw new Error(`Evaluator: no value for trainable '${name}'`);
        feeds[name] = 'dims' in v ? v : ortTensor(v.data, v.shape, v.dtype);
      }
      for (const n of c.noise) feeds[n.input.name] = new Float32Array(n.input.size).fill(1);
      const out = await c.session.run(feeds);
      lossSum += Number(out.loss_sum.data[0]);
      weight += Number(out.weight.data[0]);
      for (const m of c.metricNames) sums[m] = (sums[m] ?? 0) + Number(out[`metric.${m}`].data[0]);
      examples += batch.examples;
    }
    const w = Math.max(weight, 1);
    const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / w]));
    return { loss: lossSum / w, metrics, examples };
  }

  async release(): Promise<void> {
    const all = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(all.map((c) => c.session.release()));
  }

  private compiled(batch: Batch): Promise<Compiled> {
    const key = batchSignature(batch);
    let entry = this.sessions.get(key);
    if (!entry) {
      entry = (async () => {
        const { graph, metricNames, paramNames, noise } = buildEvaluationGraph(
          this.objective,
          batch,
          this.opts,
        );
        const session = await createSession(graph, besideTrainingSession(this.opts));
        return { session, metricNames, paramNames, noise };
      })();
      this.sessions.set(key, entry);
      entry.catch(() => this.sessions.delete(key));
    }
    return entry;
  }
}
