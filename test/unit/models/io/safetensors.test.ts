import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  floatTensor,
  SafetensorsReader,
  writeModelSafetensors,
  writeSafetensors,
} from '../../../../src/models/safetensors';
import { UserInputError } from '../../../../src/errors';
import { hfTiny } from '../../../helpers/fixtures';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SafetensorsReader', () => {
  it('reads the llama-tiny checkpoint written by PyTorch', () => {
    const st = SafetensorsReader.openFolder(hfTiny('llama-tiny'));
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(st.names()).toHaveLength(21);
    expect(st.entry('model.layers.0.self_attn.k_proj.weight')).toMatchObject({
      dtype: 'F32',
      shape: [32, 64],
    });
    const embed = st.float32('model.embed_tokens.weight'); // (V, C)
    expect(embed).toHaveLength(512 * 64);
    // Row 0 is the padding row; row 1 values as Python's struct module reads them from the file.
    expect(Array.from(embed.subarray(64, 67))).toEqual([
      0.22581171989440918, 0.0628749281167984, 0.10305366665124893,
    ]);
    expect(Array.from(st.float32('model.norm.weight'))).toEqual(new Array(64).fill(1));
  });

  it('reads I64 tensors as numbers', () => {
    const ref = SafetensorsReader.open(hfTiny('llama-tiny', 'reference.safetensors'));
    const tokenizerReference = JSON.parse(fs.readFileSync(hfTiny('tokenizer_reference.json'), 'utf8'));
    const ids = ref.integers('input_ids'); // (3, 35)
    const first = tokenizerReference.ids[0] as number[];
    expect(ids.slice(0, first.length)).toEqual(first);
    expect(ref.integers('generate_prompt')).toEqual(first.slice(0, 6));
    expect(() => ref.integers('logits')).toThrow(/is F32, not an integer tensor/);
    expect(() => ref.float32('input_ids')).toThrow(/is I64, not a float tensor/);
    expect(() => ref.raw('nope')).toThrow(/has no tensor "nope"/);
  });

  it('decodes F16 and BF16 bit patterns to float32', () => {
    // binary16: 1, -2.5, 65504 (largest), 2^-24 (smallest subnormal), -inf; bfloat16: 1, -2.5, 3.140625, 2^-133
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001, 0xfc00]);
    const bf16 = new Uint16Array([0x3f80, 0xc020, 0x4049, 0x0001]);
    const file = path.join(dir, 'half.safetensors');
    writeSafetensors(file, {
      h: { dtype: 'F16', shape: [5], data: f16 },
      b: { dtype: 'BF16', shape: [2, 2], data: bf16 },
    });
    const st = SafetensorsReader.open(file);
    expect(Array.from(st.float32('h'))).toEqual([1, -2.5, 65504, 2 ** -24, -Infinity]);
    expect(Array.from(st.float32('b'))).toEqual([1, -2.5, 3.140625, 2 ** -133]);
    expect(Array.from(st.raw('b').bytes)).toEqual([0x80, 0x3f, 0x20, 0xc0, 0x49, 0x40, 0x01, 0x00]);
  });

  it('round-trips float32 through F16 and BF16 with round-to-nearest-even', () => {
    const values = new Float32Array([1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -0.1]);
    const file = path.join(dir, 'round.safetensors');
    writeSafetensors(file, {
      h: floatTensor(values, [6], 'F16'),
      b: floatTensor(values, [6], 'BF16'),
      f: floatTensor(values, [2, 3]),
    });
    const st = SafetensorsReader.open(file);
    // Ties go to the even mantissa: F16 (10 bits) rounds 1 + 2^-11 down and 1 + 3*2^-11 up; BF16 (7 bits)
    // rounds 1 + 2^-8 down and 1 + 3*2^-8 up.
    expect(Array.from(st.float32('h'))).toEqual([
      1,
      1,
      1 + 2 ** -9,
      1 + 2 ** -8,
      1 + 3 * 2 ** -8,
      -0.0999755859375,
    ]);
    expect(Array.from(st.float32('b'))).toEqual([1, 1, 1, 1, 1 + 2 ** -6, -0.10009765625]);
    expect(st.float32('f')).toEqual(values);
    expect(st.entry('f').shape).toEqual([2, 3]);
  });

  it('decodes every F16 bit pattern to a float that encodes back to the same bits', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const file = path.join(dir, 'all.safetensors');
    writeSafetensors(file, { h: { dtype: 'F16', shape: [65536], data: bits } });
    const values = SafetensorsReader.open(file).float32('h');
    const back = floatTensor(values, [65536], 'F16').data as Uint16Array;
    const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    const differing = bits.filter((h, i) => !isNaN16(h) && back[i] !== h);
    expect(differing.length).toBe(0);
    expect(bits.filter((h, i) => isNaN16(h) !== Number.isNaN(values[i])).length).toBe(0);
  });

  it('writes headers the Python reader accepts: 8-byte aligned, __metadata__ format pt', () => {
    const file = path.join(dir, 'x.safetensors');
    writeSafetensors(file, { a: floatTensor(new Float32Array([1, 2, 3]), [3]) });
    const bytes = fs.readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    expect(JSON.parse(bytes.subarray(8, 8 + headerLength).toString())).toEqual({
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
    });
    expect(bytes.length).toBe(8 + headerLength + 12);
  });
});

describe('sharded checkpoints', () => {
  const tensors = () => ({
    a: floatTensor(new Float32Array([1, 2]), [2]),
    b: floatTensor(new Float32Array([3, 4, 5]), [3]),
    c: { dtype: 'I64' as const, shape: [2], data: new BigInt64Array([7n, -8n]) },
  });

  it('writes shards with an index and reads them back as one set', () => {
    const files = writeModelSafetensors(dir, tensors(), 12);
    expect(files).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(36);
    expect(index.weight_map.b).toBe('model-00002-of-00003.safetensors');
    const st = SafetensorsReader.openFolder(dir);
    expect(st.names().sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from(st.float32('b'))).toEqual([3, 4, 5]);
    expect(st.integers('c')).toEqual([7, -8]);
  });

  it('writes a single model.safetensors when everything fits', () => {
    expect(writeModelSafetensors(dir, tensors())).toEqual(['model.safetensors']);
    expect(SafetensorsReader.openFolder(dir).names()).toEqual(['a', 'b', 'c']);
  });

  it('names a missing shard and a tensor the index misplaces', () => {
    writeModelSafetensors(dir, tensors(), 12);
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    fs.writeFileSync(
      indexPath,
      JSON.stringify({ ...index, weight_map: { ...index.weight_map, a: index.weight_map.b } }),
    );
    expect(() => SafetensorsReader.openFolder(dir)).toThrow(
      /says tensor "a" is in "model-00002-of-00003.safetensors"/,
    );
    fs.rmSync(path.join(dir, 'model-00003-of-00003.safetensors'));
    expect(() => SafetensorsReader.openFolder(dir)).toThrow(/names shard "model-00003-of-00003.safetensors"/);
  });
});

describe('bad files', () => {
  const write = (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  const withHeader = (header: unknown, dataBytes: number) => {
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]);
  };

  it.each([
    ['short.safetensors', Buffer.from([1, 2, 3]), /shorter than the 8-byte header length/],
    ['long.safetensors', Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 0]), /runs past the end/],
    [
      'json.safetensors',
      Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{x')]),
      /not valid JSON/,
    ],
    [
      'dtype.safetensors',
      withHeader({ t: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1),
      /unsupported dtype "F8"/,
    ],
    [
      'offsets.safetensors',
      withHeader({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8),
      /"t" \(F32 \[4\], 16 bytes\) has data_offsets \[0,16\] that do not fit the 8 data bytes/,
    ],
  ])('%s gives a UserInputError naming the file', (name, bytes, message) => {
    const file = write(name, bytes);
    const err = (() => {
      try {
        SafetensorsReader.open(file);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UserInputError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(message);
  });

  it('names a missing file', () => {
    expect(() => SafetensorsReader.openFolder(dir)).toThrow(
      /model\.safetensors: cannot open safetensors file \(ENOENT\)/,
    );
  });
});
