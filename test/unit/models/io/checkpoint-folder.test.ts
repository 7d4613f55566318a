import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkModelFolder,
  copyTokenizerFiles,
  openModelFolder,
  writeModelFolder,
} from '../../../../src/models/checkpoint-folder';
import { floatTensor, SafetensorsReader } from '../../../../src/models/safetensors';
import { UserInputError } from '../../../../src/errors';
import { hfTiny } from '../../../helpers/fixtures';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'model-folder-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('openModelFolder', () => {
  it('opens llama-tiny: config, lazy weights, tokenizer with ids from its config', () => {
    const m = openModelFolder(hfTiny('llama-tiny'));
    expect(m.config.family).toBe('llama');
    expect(m.weights.entry('lm_head.weight').shape).toEqual([512, 64]);
    expect(m.tokenizer.encode('hi')).toEqual([1, 74, 75]);
    expect(m.tokenizer.chatTemplate).toContain('<|assistant|>');
  });

  it('lists everything a folder lacks in one error', () => {
    const check = () => checkModelFolder(dir);
    expect(check).toThrow(UserInputError);
    expect(check).toThrow(
      `${dir} is not a usable model folder: missing config.json; model.safetensors or model.safetensors.index.json; tokenizer.json`,
    );
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), '');
    fs.copyFileSync(hfTiny('llama-tiny', 'config.json'), path.join(dir, 'config.json'));
    expect(check).toThrow(
      /only PyTorch \.bin\/\.pt weights are present: save them as safetensors first\); tokenizer\.json$/,
    );
    expect(() => checkModelFolder(dir, { tokenizer: false })).toThrow(/model\.safetensors or/);
    expect(() => checkModelFolder(path.join(dir, 'nope'))).toThrow(
      `${path.join(dir, 'nope')} is not a folder`,
    );
  });

  it('passes on config errors naming the file', () => {
    for (const f of ['model.safetensors', 'tokenizer.json'])
      fs.copyFileSync(hfTiny('llama-tiny', f), path.join(dir, f));
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ model_type: 'llama', architectures: ['Nope'] }),
    );
    expect(() => openModelFolder(dir)).toThrow(
      `${path.join(dir, 'config.json')}: architectures "Nope" is not supported`,
    );
  });
});

describe('writing model folders', () => {
  it('copies the tokenizer files present', () => {
    expect(copyTokenizerFiles(hfTiny('llama-tiny'), dir)).toEqual([
      'tokenizer.json',
      'tokenizer_config.json',
      'chat_template.jinja',
    ]);
    expect(fs.readFileSync(path.join(dir, 'tokenizer.json'))).toEqual(
      fs.readFileSync(hfTiny('llama-tiny', 'tokenizer.json')),
    );
    expect(() => copyTokenizerFiles(path.join(dir, 'x'), dir)).toThrow(/has no tokenizer.json to copy/);
  });

  it('writes a folder that opens again with the same config, weights and tokenizer', () => {
    const source = openModelFolder(hfTiny('llama-tiny'));
    const tensors = Object.fromEntries(
      source.weights
        .names()
        .map((n) => [n, floatTensor(source.weights.float32(n), source.weights.entry(n).shape)]),
    );
    const out = path.join(dir, 'out');
    const files = writeModelFolder(out, { config: source.config, tensors, sourceFolder: source.folder });
    expect(files).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
      'chat_template.jinja',
      'generation_config.json',
    ]);
    const again = openModelFolder(out);
    const { raw: _, ...config } = again.config;
    const { raw: __, ...original } = source.config;
    expect(config).toEqual(original);
    expect(again.weights.float32('model.layers.1.mlp.up_proj.weight')).toEqual(
      source.weights.float32('model.layers.1.mlp.up_proj.weight'),
    );
    expect(again.tokenizer.encode('学习率')).toEqual(source.tokenizer.encode('学习率'));
    const written = fs.readFileSync(path.join(out, 'config.json'), 'utf8');
    expect(written.indexOf('"architectures"')).toBeLessThan(written.indexOf('"vocab_size"'));
    expect(JSON.parse(written).dtype).toBe('float32');
  });

  it('records bfloat16 weights in the config and replaces earlier shards', () => {
    const source = openModelFolder(hfTiny('llama-tiny'));
    const out = path.join(dir, 'out');
    const tensors = Object.fromEntries(
      source.weights
        .names()
        .map((n) => [n, floatTensor(source.weights.float32(n), source.weights.entry(n).shape, 'BF16')]),
    );
    const sharded = writeModelFolder(out, {
      config: source.config,
      tensors,
      sourceFolder: source.folder,
      maxShardBytes: 100_000,
    });
    expect(sharded).toContain('model.safetensors.index.json');
    writeModelFolder(out, { config: source.config, tensors, sourceFolder: source.folder });
    expect(fs.readdirSync(out).filter((f) => f.includes('safetensors'))).toEqual(['model.safetensors']);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).dtype).toBe('bfloat16');
    expect(SafetensorsReader.openFolder(out).entry('model.norm.weight').dtype).toBe('BF16');
  });
});
