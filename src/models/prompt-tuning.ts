/**
 * Prompt tuning as PEFT does it: N trainable virtual-token embeddings (`prompt_embeddings`, (N, C)) prepended to
 * the input embeddings, the attention mask extended with ones for them; the text then starts at position N.
 */
import { Tensor } from '../engine/graph';
import * as op from '../engine/ops';
import { UserInputError } from '../errors';
import { ModelConfig } from './config';
import { MemoryWeights, PromptSpec, WeightStore } from './model';
import { TextTokenizer } from './tokenizer';

export const PROMPT_KEY = 'prompt_embeddings';

/** A standard normal draw from uniform draws (Box-Muller), like torch.nn.Embedding's N(0, 1) initialization. */
function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log stays finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** N(0, 1) virtual tokens (PEFT's RANDOM init). */
export function randomPromptWeights(c: ModelConfig, n: number, random: () => number): MemoryWeights {
  const data = new Float32Array(n * c.hiddenSize).map(() => normal(random));
  return new MemoryWeights([[PROMPT_KEY, { data, shape: [n, c.hiddenSize] }]]);
}

/**
 * PEFT's TEXT init: the embeddings of the tokenized init text (with the tokenizer's special tokens), truncated to
 * N tokens or repeated until N are filled.
 */
export function textPromptWeights(
  embeddings: WeightStore,
  embeddingName: string,
  tokenizer: TextTokenizer,
  text: string,
  n: number,
): MemoryWeights {
  const ids = tokenizer.encode(text);
  if (ids.length === 0)
    throw new UserInputError('the prompt-tuning init text encodes to no tokens', ['promptTuningInitText']);
  const table = embeddings.get(embeddingName);
  const c = table.shape[1];
  const data = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const id = ids[i % ids.length];
    data.set(table.data.subarray(id * c, (id + 1) * c), i * c);
  }
  return new MemoryWeights([[PROMPT_KEY, { data, shape: [n, c] }]]);
}

export function checkPromptWeights(
  c: ModelConfig,
  spec: PromptSpec,
  weights: WeightStore,
  where: string,
): void {
  const shape = weights.has(PROMPT_KEY) ? weights.shape(PROMPT_KEY) : null;
  if (!shape || shape.join() !== [spec.numVirtualTokens, c.hiddenSize].join()) {
    throw new UserInputError(
      `${where}: the prompt-tuning adapter needs ${PROMPT_KEY} of shape [${spec.numVirtualTokens}, ${c.hiddenSize}], ` +
        (shape ? `got [${shape.join(', ')}]` : 'it has none'),
      [where],
      'BAD_ADAPTER',
    );
  }
}

/** cat(prompt, embeds) along time: (B, T, C) -> (B, N + T, C), and the mask (B, T) -> (B, N + T) with ones. */
export function prependVirtualTokens(
  prompt: Tensor,
  embeds: Tensor,
  mask: Tensor,
): { embeds: Tensor; mask: Tensor } {
  const [b, , c] = embeds.shape;
  const n = prompt.shape[0];
  const virtual = op.expand(op.reshape(prompt, [1, n, c]), [b, n, c]); // (B, N, C)
  const ones = op.full(mask.graph, [b, n], 1, mask.dtype);
  return { embeds: op.concat([virtual, embeds], 1), mask: op.concat([ones, mask], 1) };
}

/** A prompt-tuning spec from PEFT's adapter_config.json fields. */
export function promptSpecFromConfig(
  cfg: Record<string, unknown>,
  file: string,
): Omit<PromptSpec, 'weights'> {
  const n = cfg.num_virtual_tokens;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new UserInputError(
      `${file}: num_virtual_tokens must be a positive integer, got ${JSON.stringify(n)}`,
      [file, 'num_virtual_tokens'],
      'BAD_ADAPTER',
    );
  }
  if ((cfg.num_transformer_submodules ?? 1) !== 1) {
    throw new UserInputError(
      `${file}: num_transformer_submodules must be 1 (decoder-only models)`,
      [file, 'num_transformer_submodules'],
      'BAD_ADAPTER',
    );
  }
  const initText = typeof cfg.prompt_tuning_init_text === 'string' ? cfg.prompt_tuning_init_text : null;
  return { kind: 'prompt', numVirtualTokens: n, initText };
}
