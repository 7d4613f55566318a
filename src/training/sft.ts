/**
 * Supervised fine-tuning: next-token cross-entropy over the labelled tokens (the response and its end-of-sequence
 * token; the prompt and padding carry label -100), as transformers' causal-LM loss: logits at t predict labels at
 * t + 1. The shift is applied to the (B, T) int labels, never to the (B, T, V) logits, so no slice of the largest
 * activation is materialised.
 */
import { Graph, Tensor } from '../engine/graph';
import { MemoryLayout } from '../models/memory-layout';
import * as nn from '../engine/nn';
import * as op from '../engine/ops';
import { HostTensor, Objective, ObjectiveOutputs } from './objective';
import { IGNORE_INDEX } from '../data/examples';
import { CausalLMOutputs } from '../models/model';
import { CausalLMForward } from './parameterization';

/**
 * labels[:, 1:] followed by IGNORE_INDEX: the target of each position. (B, T)
 * A Gather of columns 1..T-1 rather than a Slice: WebGPU has Gather but no Slice for int32 labels.
 */
export function shiftLabels(labels: Tensor): Tensor {
  const [b, t] = labels.shape;
  const next = op.gather(labels, op.arange(labels.graph, 1, t), 1); // (B, T-1)
  return op.concat([next, op.full(labels.graph, [b, 1], IGNORE_INDEX, labels.dtype)], 1);
}

/**
 * Cross-entropy of the forward's LM head against targets (B, T), IGNORE_INDEX skipped: summed, or per token (0 where
 * ignored). Through the chunked head where the forward built one (MemoryLayout.lossChunk), else from the logits.
 */
export function targetCrossEntropy(
  out: Pick<CausalLMOutputs, 'logits' | 'tokenLosses'>,
  targets: Tensor,
  reduction: 'sum' | 'none',
): Tensor {
  if (!out.tokenLosses) return nn.crossEntropy(out.logits, targets, { ignoreIndex: IGNORE_INDEX, reduction });
  const losses = out.tokenLosses(targets); // (B, T)
  return reduction === 'sum' ? op.reduceSum(losses, [0, 1]) : losses;
}

export class SftObjective implements Objective {
  readonly name = 'sft';

  constructor(
    private readonly forward: CausalLMForward,
    private readonly initial: ReadonlyMap<string, HostTensor>,
  ) {}

  build(g: Graph, batch: Readonly<Record<string, Tensor>>, memoryLayout?: MemoryLayout): ObjectiveOutputs {
    const { input_ids: inputIds, attention_mask: attentionMask, labels } = batch;
    if (!inputIds || !attentionMask || !labels) {
      throw new Error(
        `sft: a batch needs input_ids, attention_mask and labels, got ${Object.keys(batch).join(', ')}`,
      );
    }
    const out = this.forward(g, { inputIds, attentionMask, memoryLayout }); // logits (B, T, V)
    const targets = shiftLabels(labels); // (B, T)
    const lossSum = targetCrossEntropy(out, targets, 'sum');
    const weight = op.reduceSum(op.cast(op.not(op.equal(targets, IGNORE_INDEX)), 'float32'), [0, 1]);
    return { lossSum, weight, params: out.params, noise: out.noise };
  }

  initialParameters(): ReadonlyMap<string, HostTensor> {
    return this.initial;
  }
}
