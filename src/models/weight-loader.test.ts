import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { readGguf, writeGguf } from '../formats/gguf/index.js';
import type { WeightTensor, WeightUse } from '../kernels/kernel-backend.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { quantize } from '../quant/index.js';
import { Rng } from '../util/rng.js';
import { WeightLoader } from './weight-loader.js';
import { Workspace } from './workspace.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-weight-loader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rng = new Rng(11);
const numCols = 64;
/** [numRows, numCols] of random values in `type` */
const matrix = (type: GgmlType, numRows: number): Uint8Array => {
  const values = Float32Array.from({ length: numRows * numCols }, () => rng.gaussian());
  return type === GgmlType.F32 ? new Uint8Array(values.buffer) : quantize(type, values);
};

describe('WeightLoader.stackedMatrix', () => {
  const parts = { q: matrix(GgmlType.Q8_0, 32), k: matrix(GgmlType.Q8_0, 16), v: matrix(GgmlType.Q8_0, 16), mixed: matrix(GgmlType.F32, 16) };
  const path = join(dir, 'parts.gguf');
  writeGguf(path, {
    metadata: {},
    tensors: [
      { name: 'q', shape: [numCols, 32], type: GgmlType.Q8_0, data: parts.q },
      { name: 'k', shape: [numCols, 16], type: GgmlType.Q8_0, data: parts.k },
      { name: 'v', shape: [numCols, 16], type: GgmlType.Q8_0, data: parts.v },
      { name: 'mixed', shape: [numCols, 16], type: GgmlType.F32, data: parts.mixed },
    ],
  });

  it('reads parts of one type into one matrix, their rows one under the other (what stacking them would give)', () => {
    const w = new WeightLoader(readGguf(path));
    const stacked = w.stackedMatrix('qkv', [['q', 32], ['k', 16], ['v', 16]], numCols)!;
    expect(stacked).toMatchObject({ name: 'qkv', type: GgmlType.Q8_0, numRows: 64, numCols });
    expect(stacked.data).toEqual(Uint8Array.from([...parts.q, ...parts.k, ...parts.v]));
  });

  it('gives undefined for parts of different types, which load one by one', () => {
    const w = new WeightLoader(readGguf(path));
    expect(w.stackedMatrix('qkv', [['q', 32], ['mixed', 16]], numCols)).toBeUndefined();
  });

  it("checks each part's shape like matrix does", () => {
    const w = new WeightLoader(readGguf(path));
    expect(() => w.stackedMatrix('qkv', [['q', 32], ['k', 32]], numCols)).toThrow(/tensor 'k' has shape \[64,16\], expected \[64,32\]/);
  });
});

describe('WeightLoader.outputScale', () => {
  const f32 = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
  const path = join(dir, 'scales.gguf');
  writeGguf(path, {
    metadata: {},
    tensors: [
      { name: 'blk.0.attn_q.scale', shape: [1], type: GgmlType.F32, data: f32(0.25) },
      { name: 'blk.0.attn_k.scale', shape: [2], type: GgmlType.F32, data: f32(1, 2) },
      { name: 'blk.0.attn_v.scale', shape: [1], type: GgmlType.F32, data: f32(Number.NaN) },
      { name: 'blk.0.ffn_up.scale', shape: [1], type: GgmlType.F32, data: f32(1) },
    ],
  });

  it("reads `<base>.scale` for `<base>.weight` (and marks it used), undefined where the file has none", () => {
    const w = new WeightLoader(readGguf(path));
    expect(w.outputScale('blk.0.attn_q.weight')).toBe(0.25);
    expect(w.outputScale('blk.0.ffn_down.weight')).toBeUndefined();
    expect(w.outputScale('blk.0.ffn_up.weight')).toBeUndefined(); // 1: nothing to multiply, and the parts may still stack
    expect(() => w.checkAllUsed('llama')).toThrow(/attn_k\.scale/); // q's was read; k's and v's not yet
  });

  it('refuses a scale that is not one finite f32', () => {
    const w = new WeightLoader(readGguf(path));
    expect(() => w.outputScale('blk.0.attn_k.weight')).toThrow(/attn_k\.scale' has shape \[2\], expected \[1\]/);
    expect(() => w.outputScale('blk.0.attn_v.weight')).toThrow(/attn_v\.scale' is NaN, not a finite scale/);
  });
});

describe('WeightLoader.upload', () => {
  const parts = { q: matrix(GgmlType.Q8_0, 32), k: matrix(GgmlType.Q8_0, 16), v: matrix(GgmlType.Q8_0, 16) };
  const path = join(dir, 'upload.gguf');
  writeGguf(path, {
    metadata: {},
    tensors: Object.entries(parts).map(([name, data]) => ({ name, shape: [numCols, data.length / (numCols / 32 * 34)], type: GgmlType.Q8_0, data })),
  });
  /** a backend that copies what it uploads for matmul (as the native one packs it) */
  class CopyingBackend extends ReferenceBackend {
    override uploadWeight(w: WeightTensor, use?: WeightUse): WeightTensor {
      return use === 'embedding' ? w : { ...w, data: new Uint8Array(w.data) };
    }
  }

  it('reads the next matrix into the buffer of one the backend copied, with the right bytes; never into one the backend keeps or the caller was not done with', () => {
    const w = new WeightLoader(readGguf(path));
    const ws = new Workspace(new CopyingBackend());
    const q = w.matrix('q', 32, numCols);
    const uploaded = w.upload(ws, q);
    const k = w.matrix('k', 16, numCols);
    expect(k.data.buffer).toBe(q.data.buffer);
    expect(k.data).toEqual(parts.k);
    expect((uploaded as WeightTensor).data).toEqual(parts.q); // the copy, untouched by the read into q's old buffer
    const v = w.matrix('v', 16, numCols); // k was not given back: a buffer of its own
    expect(v.data.buffer).not.toBe(k.data.buffer);
    expect([k.data, v.data]).toEqual([parts.k, parts.v]);

    const kept = new WeightLoader(readGguf(path));
    const reference = new Workspace(new ReferenceBackend()); // uses the bytes in place
    const q2 = kept.matrix('q', 32, numCols);
    kept.upload(reference, q2);
    expect(kept.matrix('k', 16, numCols).data.buffer).not.toBe(q2.data.buffer);
    expect(q2.data).toEqual(parts.q);
  });
});
