import { mkdtempSync, openSync, closeSync, writeSync, truncateSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../errors/engine-error.js';
import { GgmlType } from '../ggml-type.js';
import { gguf, GgufValueType, readGguf, readTensorData, writeGguf } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectLoadError(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe(code);
    if (message) expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ModelLoadError ${code}`);
}

const metadata = {
  'general.architecture': gguf.str('llama'),
  'test.u8': gguf.u8(250),
  'test.i8': gguf.i8(-5),
  'test.u16': gguf.u16(65000),
  'test.i16': gguf.i16(-32000),
  'test.u32': gguf.u32(4_000_000_000),
  'test.i32': gguf.i32(-2_000_000_000),
  'test.f32': gguf.f32(1.5),
  'test.f64': gguf.f64(Math.PI),
  'test.u64': gguf.u64(2n ** 63n + 7n),
  'test.i64': gguf.i64(-(2n ** 62n)),
  'test.bool': gguf.bool(true),
  'test.str': gguf.str('héllo ▁ 🐦'),
  'test.arr.str': gguf.arr(GgufValueType.STRING, ['a', '', 'ü']),
  'test.arr.i32': gguf.arr(GgufValueType.INT32, [1, -2, 3]),
  'test.arr.f32': gguf.arr(GgufValueType.FLOAT32, [0.5, -0.25]),
  'test.arr.empty': gguf.arr(GgufValueType.UINT8, []),
};

function sampleTensors() {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Uint8Array(34 * 2).map((_, i) => i);
  return [
    { name: 'a', shape: [3, 2], type: GgmlType.F32, data: new Uint8Array(a.buffer) },
    { name: 'b', shape: [64], type: GgmlType.Q8_0, data: () => b },
  ];
}

describe('GGUF reader and writer', () => {
  it('round-trips metadata of every value type and tensor data', () => {
    const path = join(dir, 'roundtrip.gguf');
    writeGguf(path, { metadata, tensors: sampleTensors() });
    const file = readGguf(path);
    expect(file.version).toBe(3);
    expect(file.alignment).toBe(32);
    for (const [key, value] of Object.entries(metadata)) {
      const got = file.metadata.get(key)!;
      expect(got.type).toBe(value.type);
      if (value.type === GgufValueType.FLOAT32) expect(got.value).toBeCloseTo(value.value as number, 6);
      else expect(got.value).toEqual(value.value);
    }
    expect(file.tensors.map((t) => [t.name, t.shape, t.type, t.byteSize])).toEqual([
      ['a', [3, 2], GgmlType.F32, 24],
      ['b', [64], GgmlType.Q8_0, 68],
    ]);
    expect(file.tensors[0]!.fileOffset % 32).toBe(0);
    expect(file.tensors[1]!.fileOffset % 32).toBe(0);
    const data = readTensorData(file, file.tensors);
    expect([...new Float32Array(data.get('a')!.slice().buffer)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(data.get('b')).toEqual((sampleTensors()[1]!.data as () => Uint8Array)());
  });

  it('honours a custom alignment', () => {
    const path = join(dir, 'align.gguf');
    writeGguf(path, { metadata: {}, tensors: sampleTensors(), alignment: 64 });
    const file = readGguf(path);
    expect(file.alignment).toBe(64);
    expect(file.dataOffset % 64).toBe(0);
    expect(file.tensors.every((t) => t.fileOffset % 64 === 0)).toBe(true);
  });

  it('reads tensors placed beyond 4 GiB (sparse file)', () => {
    const path = join(dir, 'big.gguf');
    const big = 5 * 2 ** 30;
    const tail = new Uint8Array(32).map((_, i) => 200 - i);
    // the writer streams data in order: let it write the header, then stop at the big tensor
    expect(() =>
      writeGguf(path, {
        metadata: {},
        tensors: [
          { name: 'big', shape: [big], type: GgmlType.I8, data: () => new Uint8Array(0) },
          { name: 'tail', shape: [32], type: GgmlType.I8, data: tail },
        ],
      }),
    ).toThrow(/bytes/);
    const header = readFileSync(path);
    const dataOffset = Math.ceil(header.length / 32) * 32;
    truncateSync(path, dataOffset + big + 32);
    const fd = openSync(path, 'r+');
    writeSync(fd, tail, 0, 32, dataOffset + big);
    closeSync(fd);
    const file = readGguf(path);
    const t = file.tensors.find((x) => x.name === 'tail')!;
    expect(t.fileOffset).toBe(dataOffset + big);
    expect(t.fileOffset).toBeGreaterThan(2 ** 32);
    expect(readTensorData(file, [t]).get('tail')).toEqual(tail);
  });

  describe('bad files', () => {
    const good = join(dir, 'good.gguf');
    writeGguf(good, { metadata, tensors: sampleTensors() });
    const bytes = readFileSync(good);
    const variant = (name: string, mutate: (b: Buffer) => Buffer): string => {
      const p = join(dir, name);
      writeFileSync(p, mutate(Buffer.from(bytes)));
      return p;
    };

    it('missing file', () => expectLoadError(() => readGguf(join(dir, 'nope.gguf')), 'FILE_NOT_FOUND', /not found/));
    it('empty file', () => expectLoadError(() => readGguf(variant('empty.gguf', () => Buffer.alloc(0))), 'GGUF_BAD_MAGIC'));
    it('bad magic', () =>
      expectLoadError(() => readGguf(variant('magic.gguf', (b) => (b.write('GGML', 0), b))), 'GGUF_BAD_MAGIC', /not a GGUF/));
    it('unsupported version', () =>
      expectLoadError(() => readGguf(variant('version.gguf', (b) => (b.writeUInt32LE(7, 4), b))), 'GGUF_UNSUPPORTED_VERSION', /version 7/));
    it('truncated in the header, at every cut point', () => {
      const file = readGguf(good);
      for (const cut of [6, 20, 100, file.dataOffset - 40]) {
        expectLoadError(() => readGguf(variant(`cut${cut}.gguf`, (b) => b.subarray(0, cut))), 'GGUF_TRUNCATED', /truncated|end of file/);
      }
    });
    it('truncated in the tensor data', () => {
      expectLoadError(() => readGguf(variant('cutdata.gguf', (b) => b.subarray(0, b.length - 40))), 'GGUF_TRUNCATED', /tensor 'b'/);
    });
    it('absurd counts are reported, not allocated', () => {
      expectLoadError(() => readGguf(variant('count.gguf', (b) => (b.writeBigUInt64LE(2n ** 60n, 8), b))), 'GGUF_CORRUPT', /tensor count/);
      expectLoadError(() => readGguf(variant('kvcount.gguf', (b) => (b.writeBigUInt64LE(2n ** 40n, 16), b))), 'GGUF_CORRUPT', /metadata count/);
      // first key's length
      expectLoadError(() => readGguf(variant('keylen.gguf', (b) => (b.writeBigUInt64LE(2n ** 50n, 24), b))), 'GGUF_CORRUPT', /string length/);
    });
    it('unknown metadata value type', () => {
      const key = 'general.architecture';
      const at = 24 + 8 + key.length;
      expectLoadError(() => readGguf(variant('vtype.gguf', (b) => (b.writeUInt32LE(99, at), b))), 'GGUF_CORRUPT', /unknown value type 99/);
    });
    it('unknown tensor type', () => {
      const file = readGguf(good);
      // the type field of tensor 'b' sits 12 bytes before the data section padding: find it by scanning
      const p = variant('ttype.gguf', (b) => {
        const name = Buffer.from('b');
        const at = b.indexOf(Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), name, Buffer.from([1, 0, 0, 0])]), 100);
        // layout: len(8) 'b' ndims(4) dim(8) type(4)
        b.writeUInt32LE(77, at + 8 + 1 + 4 + 8);
        return b;
      });
      expect(file.tensors.length).toBe(2);
      expectLoadError(() => readGguf(p), 'UNKNOWN_TENSOR_TYPE', /tensor 'b' has unknown ggml type 77/);
    });
  });
});
