import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { writeDemoModel } from '../../../src/models/demo';
import { SafetensorsReader } from '../../../src/models/safetensors';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-demo-'));
  writeDemoModel(dir, { seed: 3 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the demo folder holds a LLaMA config and weights of the configured shapes', () => {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  expect(config).toMatchObject({
    model_type: 'llama',
    hidden_size: 64,
    num_key_value_heads: 2,
    vocab_size: 259,
  });
  const weights = SafetensorsReader.openFolder(dir);
  expect(weights.entry('model.embed_tokens.weight').shape).toEqual([259, 64]);
  expect(weights.entry('model.layers.1.self_attn.k_proj.weight').shape).toEqual([32, 64]);
  expect(weights.entry('model.layers.0.mlp.down_proj.weight').shape).toEqual([64, 128]);
  const q = weights.float32('model.layers.0.self_attn.q_proj.weight');
  const std = Math.sqrt(q.reduce((s, x) => s + x * x, 0) / q.length);
  expect(std).toBeGreaterThan(0.018);
  expect(std).toBeLessThan(0.022);
  expect(weights.float32('model.norm.weight').every((x) => x === 1)).toBe(true);
});

test('the same seed writes the same weights', () => {
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-demo-'));
  writeDemoModel(other, { seed: 3 });
  const [a, b] = [other, dir].map((d) => fs.readFileSync(path.join(d, 'model.safetensors')));
  expect(a.equals(b)).toBe(true);
  fs.rmSync(other, { recursive: true, force: true });
});

test('its byte-level tokenizer loads in @huggingface/tokenizers and round-trips any text', () => {
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const tokenizer = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
  const text = 'Loss 降低 — ok!';
  const { ids } = tokenizer.encode(text);
  expect(ids[0]).toBe(1); // <s>
  expect(ids.length).toBe(1 + Buffer.byteLength(text));
  expect(Math.max(...ids)).toBeLessThan(259);
  expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
});
