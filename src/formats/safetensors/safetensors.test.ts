import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../errors/engine-error.js';
import { writeSafetensors } from '../../testing/safetensors-writer.js';
import { MAX_SAFETENSORS_HEADER_BYTES, readSafetensors, readSafetensorsData } from './safetensors-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** a file of a header (JSON text, its length field as given or its own) and data bytes */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): string {
  const path = join(dir, `raw-${n++}.safetensors`);
  const json = Buffer.from(header, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(lengthField ?? BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, data]));
  return path;
}

function expectCode(path: string, code: string, message?: RegExp): void {
  let error: unknown;
  try {
    readSafetensors(path);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ModelLoadError);
  expect((error as ModelLoadError).code).toBe(code);
  if (message) expect((error as ModelLoadError).message).toMatch(message);
}

describe('safetensors reader', () => {
  it('round-trips the writer: names, dtypes, shapes, offsets, metadata and bytes', () => {
    const path = join(dir, 'ok.safetensors');
    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const b = new Uint16Array([0x3c00, 0xc000]);
    writeSafetensors(path, [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: new Uint8Array(a.buffer) },
      { name: 'b', dtype: 'BF16', shape: [2], data: new Uint8Array(b.buffer) },
    ]);
    const file = readSafetensors(path);
    expect(file.metadata.get('format')).toBe('pt');
    expect([...file.tensors.keys()]).toEqual(['a', 'b']);
    const infoA = file.tensors.get('a')!;
    expect(infoA).toMatchObject({ dtype: 'F32', shape: [2, 3], byteSize: 24 });
    expect(new Float32Array(readSafetensorsData(file, infoA).buffer)).toEqual(a);
    expect(new Uint16Array(readSafetensorsData(file, file.tensors.get('b')!).buffer)).toEqual(b);
    expect((file.tensors.get('b')!.fileOffset - infoA.fileOffset)).toBe(24);
  });

  it('refuses truncated files: no length, a header past the end, data past the end', () => {
    const short = join(dir, 'short.safetensors');
    writeFileSync(short, Buffer.from([1, 2, 3]));
    expectCode(short, 'SAFETENSORS_TRUNCATED');
    expectCode(rawFile('{}', undefined, 1000n), 'SAFETENSORS_TRUNCATED', /header needs 1008 bytes/);
    expectCode(rawFile('{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', new Uint8Array(8)), 'SAFETENSORS_TRUNCATED', /needs data bytes up to 16/);
  });

  it('refuses a huge header length before allocating it', () => {
    expectCode(rawFile('{}', undefined, BigInt(MAX_SAFETENSORS_HEADER_BYTES) + 1n), 'SAFETENSORS_CORRUPT', /above the/);
    expectCode(rawFile('{}', undefined, 2n ** 63n), 'SAFETENSORS_CORRUPT', /above the/);
  });

  it('refuses headers that are not JSON objects of valid entries', () => {
    expectCode(rawFile('{"t": '), 'SAFETENSORS_CORRUPT', /not JSON/);
    expectCode(rawFile('[1, 2]'), 'SAFETENSORS_CORRUPT', /not a JSON object/);
    expectCode(rawFile('{"t": 3}'), 'SAFETENSORS_CORRUPT', /not an object/);
    expectCode(rawFile('{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'), 'SAFETENSORS_CORRUPT', /invalid shape/);
    expectCode(rawFile('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', new Uint8Array(8)), 'SAFETENSORS_CORRUPT', /data_offsets/);
    expectCode(rawFile('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)), 'SAFETENSORS_CORRUPT', /for 2 F32 elements/);
    expectCode(rawFile('{"__metadata__":{"a":1}}'), 'SAFETENSORS_CORRUPT', /not a string/);
  });

  it('refuses an unknown dtype, naming it', () => {
    expectCode(rawFile('{"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}', new Uint8Array(2)), 'UNKNOWN_TENSOR_TYPE', /'Q4'/);
  });

  it('refuses overlapping tensors, gaps and bytes no tensor owns', () => {
    const overlap = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
    expectCode(rawFile(overlap, new Uint8Array(12)), 'SAFETENSORS_CORRUPT', /overlaps/);
    const gap = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    expectCode(rawFile(gap, new Uint8Array(12)), 'SAFETENSORS_CORRUPT', /belong to no tensor/);
    expectCode(rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(8)), 'SAFETENSORS_CORRUPT', /cover 4/);
  });

  it('survives random corruption of a valid header with typed errors only', () => {
    const base = '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[4],"data_offsets":[16,24]}}';
    let seed = 1;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 300; i++) {
      const chars = [...base];
      for (let k = 0; k < 3; k++) chars[Math.floor(random() * chars.length)] = String.fromCharCode(32 + Math.floor(random() * 95));
      const path = rawFile(chars.join(''), new Uint8Array(Math.floor(random() * 32)));
      try {
        readSafetensors(path);
      } catch (e) {
        expect(e).toBeInstanceOf(ModelLoadError);
      }
    }
  });
});
