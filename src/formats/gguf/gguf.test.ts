import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, writeSync, truncateSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
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

// what a terminal may act on; no message from the reader may carry one raw
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const FORGED = '\u001b[2K\rperegrine: everything is fine\n';

function loadError(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError);
    return err as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError');
}

/** Byte offset of the tensor info record of `name` (its u64 name length) in a GGUF file. */
function tensorInfoAt(b: Buffer, name: string): { at: number; offsetAt: number } {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(name)));
  const at = b.indexOf(Buffer.concat([len, Buffer.from(name)]));
  expect(at).toBeGreaterThan(0);
  const numDims = b.readUInt32LE(at + 8 + Buffer.byteLength(name));
  // layout: name length (8), name, numDims (4), dims (8 each), type (4), offset (8)
  return { at, offsetAt: at + 8 + Buffer.byteLength(name) + 4 + 8 * numDims + 4 };
}

describe('GGUF reader: corrupt layouts are rejected at load (as llama.cpp does)', () => {
  const base = join(dir, 'layout.gguf');
  const f32 = (n: number, from: number) => new Uint8Array(new Float32Array(n).map((_, i) => from + i).buffer);
  writeGguf(base, {
    metadata: { 'test.key.one': gguf.u32(1), 'test.key.two': gguf.u32(2) },
    tensors: [
      { name: 'tensor.first', shape: [16], type: GgmlType.F32, data: f32(16, 0) }, // data bytes 0..64
      { name: 'tensor.other', shape: [8], type: GgmlType.F32, data: f32(8, 100) }, // data bytes 64..96
      { name: 'tensor.empty', shape: [0], type: GgmlType.F32, data: new Uint8Array(0) }, // at 96, no bytes
    ],
  });
  const bytes = readFileSync(base);
  const variant = (name: string, mutate: (b: Buffer) => void): string => {
    const b = Buffer.from(bytes);
    mutate(b);
    const p = join(dir, name);
    writeFileSync(p, b);
    return p;
  };
  const setOffset = (b: Buffer, name: string, offset: number) => b.writeBigUInt64LE(BigInt(offset), tensorInfoAt(b, name).offsetAt);

  it('the unmodified file loads (control)', () => {
    expect(readGguf(base).tensors.map((t) => t.name)).toEqual(['tensor.first', 'tensor.other', 'tensor.empty']);
  });

  it('duplicate metadata keys', () => {
    const p = variant('dupkey.gguf', (b) => b.write('test.key.one', b.indexOf('test.key.two')));
    const err = loadError(() => readGguf(p));
    expect(err.code).toBe('GGUF_CORRUPT');
    expect(err.message).toMatch(/duplicate metadata key 'test\.key\.one'/);
  });

  it('duplicate tensor names', () => {
    const p = variant('dupname.gguf', (b) => b.write('tensor.first', b.indexOf('tensor.other')));
    const err = loadError(() => readGguf(p));
    expect(err.code).toBe('GGUF_CORRUPT');
    expect(err.message).toMatch(/duplicate tensor name 'tensor\.first'/);
  });

  it('tensors sharing bytes: the same offset, or one starting inside another', () => {
    for (const [name, offset] of [['same', 0], ['inside', 32]] as const) {
      const p = variant(`overlap-${name}.gguf`, (b) => setOffset(b, 'tensor.other', offset));
      const err = loadError(() => readGguf(p));
      expect(err.code).toBe('GGUF_CORRUPT');
      expect(err.message).toMatch(new RegExp(`tensor 'tensor\\.other' has data offset ${offset}, expected 64 \\(tensor data must follow the tensor infos in order`));
    }
  });

  it("tensors stored out of the infos' order, a zero-size one elsewhere, or one retyped so the data no longer fits are refused (llama.cpp refuses them too)", () => {
    const swapped = variant('swapped.gguf', (b) => {
      setOffset(b, 'tensor.first', 32);
      setOffset(b, 'tensor.other', 0);
    });
    expect(loadError(() => readGguf(swapped)).message).toMatch(/tensor 'tensor\.first' has data offset 32, expected 0/);
    const empty = variant('empty-elsewhere.gguf', (b) => setOffset(b, 'tensor.empty', 0));
    expect(loadError(() => readGguf(empty)).message).toMatch(/tensor 'tensor\.empty' has data offset 0, expected 96/);
    // F32 -> F16: 16 values now take 32 bytes, so tensor.other should start at 32
    const retyped = variant('retyped.gguf', (b) => b.writeUInt32LE(GgmlType.F16, tensorInfoAt(b, 'tensor.first').offsetAt - 4));
    expect(loadError(() => readGguf(retyped)).message).toMatch(/tensor 'tensor\.other' has data offset 64, expected 32/);
  });
});

describe('GGUF reader: names and keys from the file never reach a message raw', () => {
  it('a tensor name with ANSI escapes, a newline and a megabyte of text: escaped and bounded', () => {
    const p = join(dir, 'hostile-name.gguf');
    const name = FORGED + 'x'.repeat(1 << 20);
    // no dimensions: the reader rejects the tensor and names it
    writeGguf(p, { metadata: {}, tensors: [{ name, shape: [], type: GgmlType.F32, data: new Uint8Array(4) }] });
    const err = loadError(() => readGguf(p));
    expect(err.code).toBe('GGUF_CORRUPT');
    expect(err.message).toMatch(/tensor '\\u001b\[2K\\u000dperegrine: everything is fine\\u000ax+… \(\d+ chars\)' has 0 dimensions/);
    expect(err.message).toContain(`(${name.length} chars)`);
    expect(err.message).not.toMatch(UNSAFE);
    expect(err.message.length).toBeLessThan(1024);
  });

  it('a duplicate hostile tensor name', () => {
    const p = join(dir, 'hostile-dup.gguf');
    const t = { shape: [8], type: GgmlType.F32, data: new Uint8Array(32) };
    writeGguf(p, { metadata: {}, tensors: [{ name: `${FORGED}A`, ...t }, { name: `${FORGED}B`, ...t }] });
    const b = readFileSync(p);
    b.write(`${FORGED}A`, b.indexOf(`${FORGED}B`));
    writeFileSync(p, b);
    const err = loadError(() => readGguf(p));
    expect(err.message).toMatch(/duplicate tensor name '\\u001b\[2K\\u000dperegrine: everything is fine\\u000aA'/);
    expect(err.message).not.toMatch(UNSAFE);
  });

  it('a hostile metadata key with an unknown value type', () => {
    const p = join(dir, 'hostile-key.gguf');
    const key = `k${FORGED}\u202e${'k'.repeat(5000)}`;
    writeGguf(p, { metadata: { [key]: gguf.u32(1) }, tensors: [] });
    const b = readFileSync(p);
    b.writeUInt32LE(99, b.indexOf(key) + Buffer.byteLength(key));
    writeFileSync(p, b);
    const err = loadError(() => readGguf(p));
    expect(err.code).toBe('GGUF_CORRUPT');
    expect(err.message).toMatch(/metadata 'k\\u001b\[2K.*\\u202ek+… \(\d+ chars\)' has unknown value type 99/);
    expect(err.message).not.toMatch(UNSAFE);
    expect(err.message.length).toBeLessThan(1024);
  });

  it('a path with control characters is escaped too', () => {
    const err = loadError(() => readGguf(join(dir, `${FORGED}.gguf`)));
    expect(err.code).toBe('FILE_NOT_FOUND');
    expect(err.message).toMatch(/\\u001b\[2K\\u000dperegrine: everything is fine\\u000a\.gguf$/);
    expect(err.message).not.toMatch(UNSAFE);
  });
});

describe('GGUF reader: a model path that is not a regular file', () => {
  it('a directory: FILE_READ_FAILED before reading, for the header and for tensor data', () => {
    const sub = join(dir, 'a-directory.gguf');
    mkdirSync(sub);
    const err = loadError(() => readGguf(sub));
    expect(err.code).toBe('FILE_READ_FAILED');
    expect(err.message).toMatch(/a-directory\.gguf is a directory, not a model file/);
    const good = join(dir, 'for-data.gguf');
    writeGguf(good, { metadata, tensors: sampleTensors() });
    const file = readGguf(good);
    expect(loadError(() => readTensorData({ ...file, path: sub }, file.tensors)).code).toBe('FILE_READ_FAILED');
  });

  it.runIf(existsSync('/dev/null'))('a device', () => {
    const err = loadError(() => readGguf('/dev/null'));
    expect(err.code).toBe('FILE_READ_FAILED');
    expect(err.message).toMatch(/\/dev\/null is a device/);
  });

  it.runIf(process.platform !== 'win32')('a socket', async () => {
    const path = join(dir, 'a-socket.gguf');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const err = loadError(() => readGguf(path));
      expect(err.code).toBe('FILE_READ_FAILED');
      expect(err.message).toMatch(/is a socket/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.runIf(process.platform !== 'win32' && spawnSync('sh', ['-c', 'command -v mkfifo']).status === 0)('a FIFO: an error at once, never a hang', () => {
    const fifo = join(dir, 'a-fifo.gguf');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // a reader that blocked in open() would wait for a writer forever; this one comes after 3 s
    // (opened read-write, so it never blocks itself) so that a regression fails instead of hanging
    const unblocker = spawn('sh', ['-c', 'sleep 3; exec 3<>"$0"', fifo], { stdio: 'ignore' });
    try {
      const start = Date.now();
      const err = loadError(() => readGguf(fifo));
      expect(err.code).toBe('FILE_READ_FAILED');
      expect(err.message).toMatch(/is a FIFO/);
      expect(Date.now() - start).toBeLessThan(2000);
    } finally {
      unblocker.kill();
    }
  });
});
