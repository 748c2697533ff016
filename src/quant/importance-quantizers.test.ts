import { describe, expect, it } from 'vitest';
import { GgmlType, ggmlByteSize } from '../formats/ggml-type.js';
import { ggmlChunkQuantizer } from '../testing/ggml-quant-reference.js';
import { codecFor } from './index.js';
import { importanceQuantizer, quantizeNvfp4Searched } from './importance-quantizers.js';

/** a deterministic generator of values in [0, 1) */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** rows × cols weights with a few outliers, and column importances spread over four orders of magnitude */
function weightsAndImportance(seed: number, rows: number, cols: number): { x: Float32Array; importance: Float32Array } {
  const r = uniform(seed);
  const x = Float32Array.from({ length: rows * cols }, () => (r() - 0.5) * (r() < 0.05 ? 8 : 1));
  const importance = Float32Array.from({ length: cols }, () => 10 * r() ** 3);
  return { x, importance };
}

function weightedError(type: GgmlType, bytes: Uint8Array, x: Float32Array, cols: number, importance: Float32Array): number {
  const back = new Float32Array(x.length);
  codecFor(type)!.dequantize(bytes, 0, x.length, back);
  let err = 0;
  for (let i = 0; i < x.length; i++) err += importance[i % cols]! * (x[i]! - back[i]!) ** 2;
  return err;
}

describe('importance-weighted quantizers', () => {
  const c = ggmlChunkQuantizer();
  it.skipIf(!c.ok).each([
    ['Q4_0', GgmlType.Q4_0],
    ['Q5_0', GgmlType.Q5_0],
    ['Q4_K', GgmlType.Q4_K],
    ['Q5_K', GgmlType.Q5_K],
    ['Q6_K', GgmlType.Q6_K],
  ] as const)("%s: the bytes of llama.cpp's ggml_quantize_chunk with the same imatrix", (_name, type) => {
    if (!c.ok) return;
    const { x, importance } = weightsAndImportance(type, 16, 512);
    const numBytes = ggmlByteSize(type, x.length);
    const ours = importanceQuantizer(type)!(x, 512, importance);
    expect(Buffer.from(ours).equals(Buffer.from(c.value(type, x, 512, importance, numBytes)))).toBe(true);
  });

  it.each([
    ['Q4_0', GgmlType.Q4_0],
    ['Q5_0', GgmlType.Q5_0],
    ['Q4_K', GgmlType.Q4_K],
    ['Q5_K', GgmlType.Q5_K],
    ['Q6_K', GgmlType.Q6_K],
    ['MXFP4', GgmlType.MXFP4],
    ['NVFP4', GgmlType.NVFP4],
  ] as const)('%s: a lower importance-weighted error than the unweighted quantizer', (_name, type) => {
    const { x, importance } = weightsAndImportance(100 + type, 32, 256);
    const weighted = importanceQuantizer(type)!(x, 256, importance);
    expect(weighted.length).toBe(ggmlByteSize(type, x.length));
    const plain = codecFor(type)!.quantize(x);
    expect(weightedError(type, weighted, x, 256, importance)).toBeLessThan(weightedError(type, plain, x, 256, importance));
  });

  it("NVFP4 searched (uncalibrated files): no sub-block's squared error above ggml's reference quantizer's, the total lower", () => {
    const { x } = weightsAndImportance(7, 32, 256);
    const searched = new Float32Array(x.length);
    const reference = new Float32Array(x.length);
    codecFor(GgmlType.NVFP4)!.dequantize(quantizeNvfp4Searched(x, 256), 0, x.length, searched);
    codecFor(GgmlType.NVFP4)!.dequantize(codecFor(GgmlType.NVFP4)!.quantize(x), 0, x.length, reference);
    let totalSearched = 0;
    let totalReference = 0;
    for (let s = 0; s < x.length; s += 16) {
      let errSearched = 0;
      let errReference = 0;
      for (let j = s; j < s + 16; j++) {
        errSearched += (x[j]! - searched[j]!) ** 2;
        errReference += (x[j]! - reference[j]!) ** 2;
      }
      expect(errSearched).toBeLessThanOrEqual(errReference * (1 + 1e-6));
      totalSearched += errSearched;
      totalReference += errReference;
    }
    expect(totalSearched).toBeLessThan(totalReference * 0.97);
  });
});
