/**
 * RoPE scaling against transformers' own initialisers (test/fixtures/rope/make_rope_refs.py: inverse frequencies,
 * attention factor and cos/sin at a few positions for Llama 3.1/3.2, linear and three YaRN settings).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseModelConfig } from '../../../src/models/config';
import { ropeFrequencies, ropeTables } from '../../../src/models/families/rope';

interface RopeCase {
  config: { head_dim: number; max_position_embeddings: number; rope_parameters: Record<string, unknown> };
  inv_freq: number[];
  attention_scaling: number;
  cos: number[][];
  sin: number[][];
}
const refs = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../fixtures/rope/rope_refs.json'), 'utf8'),
) as { positions: number[]; cases: Record<string, RopeCase> };

/** A small llama config.json carrying the case's RoPE fields, in the transformers 5 or the older spelling. */
function config(c: RopeCase['config'], spelling: 'rope_parameters' | 'rope_scaling') {
  const { rope_theta, ...scaling } = c.rope_parameters;
  const ropeFields =
    spelling === 'rope_parameters'
      ? { rope_parameters: c.rope_parameters }
      : { rope_theta, rope_scaling: { ...scaling, type: scaling.rope_type, rope_type: undefined } };
  return parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.head_dim * 4,
    num_attention_heads: 4,
    head_dim: c.head_dim,
    max_position_embeddings: c.max_position_embeddings,
    ...ropeFields,
  });
}

describe.each(Object.entries(refs.cases))('%s', (_, ref) => {
  const rope = () => {
    const c = config(ref.config, 'rope_parameters');
    if (c.positions.kind !== 'rope') throw new Error('expected RoPE');
    return c.positions;
  };

  test('inverse frequencies and attention factor as transformers computes them', () => {
    const { invFreq, attentionFactor } = ropeFrequencies(rope(), ref.config.head_dim);
    expect(invFreq).toHaveLength(ref.inv_freq.length);
    // Within a few float32 ulps: torch's float32 pow and JavaScript's double pow round differently.
    invFreq.forEach((f, i) =>
      expect(Math.abs(f - ref.inv_freq[i])).toBeLessThanOrEqual(5e-7 * ref.inv_freq[i]),
    );
    expect(attentionFactor).toBeCloseTo(ref.attention_scaling, 12);
  });

  test('cos and sin tables at positions up to 5000', () => {
    const d = ref.config.head_dim;
    const { cos, sin } = ropeTables(rope(), d, 5001);
    let worst = 0;
    refs.positions.forEach((p, k) => {
      if (p > 5000) return;
      for (let i = 0; i < d; i++) {
        worst = Math.max(
          worst,
          Math.abs(cos[p * d + i] - ref.cos[k][i]),
          Math.abs(sin[p * d + i] - ref.sin[k][i]),
        );
      }
    });
    // Measured: ~1e-7, 1.5e-5 where a last-ulp frequency difference meets position 5000 (yarn-untruncated).
    expect(worst).toBeLessThan(5e-5);
  });

  test('the older rope_scaling spelling (top-level rope_theta, `type`) reads the same', () => {
    expect(config(ref.config, 'rope_scaling').positions).toEqual(rope());
  });
});
