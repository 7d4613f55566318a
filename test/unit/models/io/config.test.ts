import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkSequenceLength, loadModelConfig, parseModelConfig } from '../../../../src/models/config';
import { UserInputError } from '../../../../src/errors';
import { hfTiny } from '../../../helpers/fixtures';

const llamaTiny = () => JSON.parse(fs.readFileSync(hfTiny('llama-tiny', 'config.json'), 'utf8'));

function errorOf(fn: () => unknown): UserInputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserInputError) return err;
    throw err;
  }
  throw new Error('expected a UserInputError');
}

describe('LLaMA', () => {
  it('normalizes the llama-tiny config (rope_parameters spelling)', () => {
    const file = hfTiny('llama-tiny', 'config.json');
    const { raw, ...config } = loadModelConfig(file);
    expect(raw.model_type).toBe('llama');
    expect(config).toEqual({
      family: 'llama',
      architecture: 'LlamaForCausalLM',
      head: 'causal_lm',
      numLabels: 2,
      vocabSize: 512,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      maxPositionEmbeddings: 256,
      norm: { kind: 'rms', eps: 1e-6 },
      activation: 'silu',
      positions: { kind: 'rope', theta: 10000, scaling: { type: 'default' } },
      attentionBias: { qkv: false, output: false },
      mlpBias: false,
      tieWordEmbeddings: false,
      normHead: false,
      bosTokenId: 1,
      eosTokenIds: [2],
      padTokenId: 0,
    });
  });

  it('reads the older top-level rope_theta, head_dim from the head count, eos lists', () => {
    const { rope_parameters: _, head_dim: __, ...older } = llamaTiny();
    const config = parseModelConfig({ ...older, rope_theta: 500000, eos_token_id: [2, 3] });
    expect(config.positions).toEqual({ kind: 'rope', theta: 500000, scaling: { type: 'default' } });
    expect(config.headDim).toBe(16);
    expect(config.eosTokenIds).toEqual([2, 3]);
  });

  it('reads a reward model head with its label count', () => {
    const config = loadModelConfig(hfTiny('rm_init', 'config.json'));
    expect(config).toMatchObject({
      architecture: 'LlamaForSequenceClassification',
      head: 'sequence_classification',
    });
    expect(config.numLabels).toBe(1);
    expect(
      parseModelConfig({ ...llamaTiny(), architectures: ['LlamaForSequenceClassification'], num_labels: 3 })
        .numLabels,
    ).toBe(3);
  });

  it('reads RoPE scaling (values checked against transformers in rope.test.ts) and refuses the rest clearly', () => {
    const base = llamaTiny();
    const llama3 = {
      rope_type: 'llama3',
      rope_theta: 5e5,
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
    };
    expect(parseModelConfig({ ...base, rope_parameters: llama3 }).positions).toEqual({
      kind: 'rope',
      theta: 5e5,
      // original_max_position_embeddings falls back to max_position_embeddings, as standardize_rope_params does
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 256 },
    });
    expect(() =>
      parseModelConfig({ ...base, rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, factor: 8 } }),
    ).toThrow(/rope_parameters\.low_freq_factor is missing/);
    const { rope_parameters: _, ...older } = base;
    expect(() => parseModelConfig({ ...older, rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(
      /rope_scaling\.rope_type "dynamic" RoPE scaling is not supported \(default, linear, llama3, yarn\)/,
    );
    expect(() => parseModelConfig({ ...older, rope_scaling: { type: 'linear', factor: -1 } })).toThrow(
      /rope_scaling\.factor must be a positive number/,
    );
  });
});

describe('other families', () => {
  it('Qwen2: q/k/v biases, tied embeddings, its own RoPE base', () => {
    const config = parseModelConfig({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      tie_word_embeddings: true,
      use_sliding_window: false,
      vocab_size: 512,
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 0,
    });
    expect(config).toMatchObject({
      family: 'qwen2',
      attentionBias: { qkv: true, output: false },
      tieWordEmbeddings: true,
      positions: { kind: 'rope', theta: 1e6, scaling: { type: 'default' } },
      numKvHeads: 2,
      headDim: 16,
    });
  });

  it('GPT-2: its own field names, LayerNorm, learned positions, tanh GELU, tied head', () => {
    const config = parseModelConfig({
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_embd: 64,
      n_layer: 2,
      n_head: 4,
      n_positions: 256,
      n_inner: null,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
      vocab_size: 512,
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 0,
    });
    expect(config).toMatchObject({
      family: 'gpt2',
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      intermediateSize: 256,
      maxPositionEmbeddings: 256,
      norm: { kind: 'layer', eps: 1e-5 },
      activation: 'gelu_new',
      positions: { kind: 'learned' },
      attentionBias: { qkv: true, output: true },
      mlpBias: true,
      tieWordEmbeddings: true,
      eosTokenIds: [2],
    });
  });

  // Baichuan2-7B-Base's config.json as published.
  const baichuan2 = {
    architectures: ['BaichuanForCausalLM'],
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_act: 'silu',
    hidden_size: 4096,
    initializer_range: 0.02,
    intermediate_size: 11008,
    max_position_embeddings: 4096,
    model_max_length: 4096,
    model_type: 'baichuan',
    num_attention_heads: 32,
    num_hidden_layers: 32,
    pad_token_id: 0,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    use_cache: true,
    vocab_size: 125696,
    z_loss_weight: 0,
  };

  it('Baichuan2-7B: RoPE, full multi-head attention, NormHead', () => {
    expect(parseModelConfig(baichuan2)).toMatchObject({
      family: 'baichuan',
      numHeads: 32,
      numKvHeads: 32,
      headDim: 128,
      positions: { kind: 'rope', theta: 10000, scaling: { type: 'default' } },
      normHead: true,
      maxPositionEmbeddings: 4096,
      padTokenId: 0,
    });
    const v1 = parseModelConfig({ ...baichuan2, architectures: ['BaiChuanForCausalLM'], vocab_size: 64000 });
    expect(v1.normHead).toBe(false);
  });

  it('Baichuan 13B (ALiBi) is rejected by name', () => {
    const { max_position_embeddings: _, ...thirteen } = {
      ...baichuan2,
      hidden_size: 5120,
      num_attention_heads: 40,
    };
    expect(() => parseModelConfig(thirteen, 'b13/config.json')).toThrow(
      'b13/config.json: hidden_size 5120 marks a Baichuan 13B model, whose ALiBi attention is not supported',
    );
  });
});

describe('bad configs', () => {
  it.each([
    [
      'model_type',
      { ...llamaTiny(), model_type: 'mistral' },
      /"mistral" is not a supported model type \(supported: llama, qwen2, baichuan, gpt2\)/,
    ],
    [
      'model_type',
      { ...llamaTiny(), model_type: 'constructor' },
      /"constructor" is not a supported model type/,
    ],
    [
      'architectures',
      { ...llamaTiny(), architectures: ['LlamaForTokenClassification'] },
      /"LlamaForTokenClassification" is not supported for model_type "llama"/,
    ],
    [
      'hidden_size',
      { ...llamaTiny(), hidden_size: '64' },
      /hidden_size must be a positive integer, got "64"/,
    ],
    [
      'num_key_value_heads',
      { ...llamaTiny(), num_key_value_heads: 3 },
      /\(3\) must divide num_attention_heads \(4\)/,
    ],
    [
      'rope_parameters.rope_theta',
      { ...llamaTiny(), rope_parameters: { rope_theta: -1 } },
      /must be a positive number/,
    ],
    ['eos_token_id.1', { ...llamaTiny(), eos_token_id: [2, 'x'] }, /eos_token_id\.1 must be a token id/],
    ['hidden_act', { ...llamaTiny(), hidden_act: 'swish' }, /"swish" is not a supported activation/],
  ])('names the file and field %s', (field, raw, message) => {
    const err = errorOf(() => parseModelConfig(raw, 'm/config.json'));
    expect(err.message).toMatch(/^m\/config\.json: /);
    expect(err.message).toMatch(message);
    expect(err.path).toEqual(['m/config.json', field]);
  });

  it('names a missing or unparsable file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-'));
    try {
      const file = path.join(dir, 'config.json');
      expect(() => loadModelConfig(file)).toThrow(`${file}: cannot read the model config (ENOENT)`);
      fs.writeFileSync(file, '{"model_type": "llama",');
      expect(() => loadModelConfig(file)).toThrow(new RegExp(`^${file}: not valid JSON`));
      fs.writeFileSync(file, '[1]');
      expect(() => loadModelConfig(file)).toThrow(`${file}: must hold a JSON object`);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('rejects a sequence length beyond max_position_embeddings', () => {
    const config = loadModelConfig(hfTiny('llama-tiny', 'config.json'));
    expect(() => checkSequenceLength(config, 256)).not.toThrow();
    const err = errorOf(() => checkSequenceLength(config, 257));
    expect(err.message).toBe(
      "maxSequenceLength 257 exceeds the model's limit of 256 positions (max_position_embeddings in its config.json)",
    );
    expect(err.code).toBe('SEQUENCE_TOO_LONG');
  });
});
