import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { readGguf, writeGguf } from '../formats/gguf/index.js';
import { quantize } from '../quant/index.js';
import { Rng } from '../util/rng.js';
import { WeightLoader } from './weight-loader.js';

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
    ],
  });

  it("reads `<base>.scale` for `<base>.weight` (and marks it used), undefined where the file has none", () => {
    const w = new WeightLoader(readGguf(path));
    expect(w.outputScale('blk.0.attn_q.weight')).toBe(0.25);
    expect(w.outputScale('blk.0.ffn_down.weight')).toBeUndefined();
    expect(() => w.checkAllUsed('llama')).toThrow(/attn_k\.scale/); // q's was read; k's and v's not yet
  });

  it('refuses a scale that is not one finite f32', () => {
    const w = new WeightLoader(readGguf(path));
    expect(() => w.outputScale('blk.0.attn_k.weight')).toThrow(/attn_k\.scale' has shape \[2\], expected \[1\]/);
    expect(() => w.outputScale('blk.0.attn_v.weight')).toThrow(/attn_v\.scale' is NaN, not a finite scale/);
  });
});
