/**
 * The native row quantizers (native/quantize.cc) against the TypeScript codecs they replace in
 * `peregrine quantize` (the reference, itself checked against llama.cpp's quantizers in
 * test/quantize/): byte for byte, on random rows and on the edge cases of each search (all-zero
 * and constant blocks, one outlier, f16's extremes, subnormals, zero importance).
 */
import { describe, expect, it } from 'vitest';
import { GgmlType, ggmlTypeName } from '../../formats/ggml-type.js';
import { codecFor } from '../../quant/index.js';
import { importanceQuantizer, quantizeNvfp4Searched } from '../../quant/importance-quantizers.js';
import { loadNativeAddon, NativeStatus } from './native-addon.js';
import { nativeQuantizeRows } from './native-quantize.js';

const loaded = loadNativeAddon();

/** the types quantize.cc writes without importance, and those it writes with */
const PLAIN = [GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.MXFP4, GgmlType.NVFP4, GgmlType.FP8_E4M3];
const WEIGHTED = [GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.MXFP4, GgmlType.NVFP4];

const NUM_COLS = 512;

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** rows of NUM_COLS: a sum of uniforms scaled per row, then blocks of 32 rewritten as edge cases */
function testRows(numRows: number, seed: number): Float32Array {
  const rnd = random(seed);
  const x = new Float32Array(numRows * NUM_COLS);
  for (let r = 0; r < numRows; r++) {
    const scale = 10 ** (-4 + 5 * rnd());
    for (let c = 0; c < NUM_COLS; c++) x[r * NUM_COLS + c] = (rnd() + rnd() + rnd() - 1.5) * scale;
  }
  const edges: ((i: number) => number)[] = [
    () => 0,
    () => 0.25, // constant and positive (the k-quants clamp min to 0)
    () => -0.125,
    (i) => (i === 7 ? 3 : 0), // one value, the rest zero
    (i) => (i === 3 ? -100 : rnd() * 1e-3), // an outlier
    (i) => (i % 2 ? 65504 : -65504), // f16's extremes
    (i) => (i % 3 ? 6e-8 : -1e-7), // f16 subnormals
    (i) => (i % 5 ? 1e-20 : 0), // below every scale's resolution
    () => -0,
    () => (rnd() < 0.5 ? 1 : -1) * 2 ** Math.floor(rnd() * 40 - 20), // powers of two: rounding ties everywhere
    (i) => i * 0.0625 - 1, // an even ramp
  ];
  for (let b = 0; b < x.length / 32; b++) {
    const edge = edges[b % 23];
    if (edge) for (let i = 0; i < 32; i++) x[32 * b + i] = edge(i);
  }
  return x;
}

function testImportance(seed: number): Float32Array {
  const rnd = random(seed);
  return Float32Array.from({ length: NUM_COLS }, (_, c) => (c % 61 === 0 ? 0 : rnd() < 0.1 ? 100 * rnd() : rnd()));
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe.skipIf(!loaded.ok)('native quantizeRows', () => {
  const rows = testRows(64, 1);

  it.each(PLAIN.map((t) => [ggmlTypeName(t), t] as const))('%s: the codec\'s bytes', (_, type) => {
    const native = nativeQuantizeRows(type, rows, NUM_COLS);
    expect(native).toBeDefined();
    expect(firstDifference(native!, codecFor(type)!.quantize(rows))).toBe(-1);
  });

  it.each(WEIGHTED.map((t) => [ggmlTypeName(t), t] as const))("%s with importance: the weighted quantizer's bytes", (_, type) => {
    for (const seed of [2, 3]) {
      const importance = testImportance(seed);
      const native = nativeQuantizeRows(type, rows, NUM_COLS, importance);
      expect(native).toBeDefined();
      expect(firstDifference(native!, importanceQuantizer(type)!(rows, NUM_COLS, importance)), `seed ${seed}`).toBe(-1);
    }
  });

  it("NVFP4 with every column weighted 1: quantizeNvfp4Searched's bytes", () => {
    const native = nativeQuantizeRows(GgmlType.NVFP4, rows, NUM_COLS, new Float32Array(NUM_COLS).fill(1));
    expect(firstDifference(native!, quantizeNvfp4Searched(rows, NUM_COLS))).toBe(-1);
  });

  it("near f32's largest (F32 or BF16 inputs; MXFP4 scale exponents above 252): the scaled-code types' bytes", () => {
    const huge = Float32Array.from(testRows(8, 5), (v, i) => (i % 64 < 32 ? v * 1e36 : (i % 3 ? 3.4e38 : -1e37 * (i % 17))));
    const importance = testImportance(6);
    for (const type of [GgmlType.Q8_0, GgmlType.MXFP4, GgmlType.NVFP4, GgmlType.FP8_E4M3]) {
      expect(firstDifference(nativeQuantizeRows(type, huge, NUM_COLS)!, codecFor(type)!.quantize(huge)), ggmlTypeName(type)).toBe(-1);
    }
    for (const type of [GgmlType.MXFP4, GgmlType.NVFP4]) {
      const weighted = nativeQuantizeRows(type, huge, NUM_COLS, importance)!;
      expect(firstDifference(weighted, importanceQuantizer(type)!(huge, NUM_COLS, importance)), `${ggmlTypeName(type)} weighted`).toBe(-1);
    }
  });

  it('answers undefined for the types it does not write, so the codec runs', () => {
    expect(nativeQuantizeRows(GgmlType.Q5_0, rows, NUM_COLS)).toBeUndefined();
    expect(nativeQuantizeRows(GgmlType.Q4_0, rows, NUM_COLS)).toBeUndefined(); // Q4_0 only with importance
    expect(nativeQuantizeRows(GgmlType.FP8_E4M3, rows, NUM_COLS, testImportance(4))).toBeUndefined();
    expect(nativeQuantizeRows(GgmlType.Q4_K, rows.subarray(0, 480), 480)).toBeUndefined(); // rows not whole blocks
  });

  it('refuses bad arguments with a status, without writing', () => {
    const addon = loaded.ok ? loaded.addon : undefined!;
    const out = new Uint8Array(144);
    expect(addon.quantizeRows(GgmlType.Q4_K, rows.subarray(0, 256), 256, null, new Uint8Array(143))).toBe(NativeStatus.BAD_ARGUMENT);
    expect(addon.quantizeRows(GgmlType.Q4_K, rows.subarray(0, 256), 256, new Float32Array(255), out)).toBe(NativeStatus.BAD_ARGUMENT);
    expect(addon.quantizeRows(GgmlType.Q4_K, rows.subarray(0, 256), 128, null, out)).toBe(NativeStatus.BAD_ARGUMENT);
    expect(addon.quantizeRows(GgmlType.Q5_0, rows.subarray(0, 256), 256, null, new Uint8Array(176))).toBe(NativeStatus.UNSUPPORTED_TYPE);
    expect(out.every((v) => v === 0)).toBe(true);
  });
});
