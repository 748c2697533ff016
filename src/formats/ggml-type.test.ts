import { describe, expect, it } from 'vitest';
import { codecFor } from '../quant/index.js';
import { GGML_TYPE_TRAITS, GgmlType, ggmlTypeName, ggmlTypeTraits, ggmlTypesWhere } from './ggml-type.js';

describe('the ggml type table', () => {
  it('has one row per GgmlType, named after it', () => {
    const enumTypes = Object.values(GgmlType).filter((v): v is GgmlType => typeof v === 'number');
    expect(GGML_TYPE_TRAITS.map((t) => t.type)).toEqual([...enumTypes].sort((a, b) => a - b));
    for (const t of GGML_TYPE_TRAITS) expect(t.name).toBe(ggmlTypeName(t.type));
    expect(ggmlTypeTraits(99)).toBeUndefined();
  });

  it('says hasCodec exactly for the types src/quant registers a codec for, and the codec writes typeSize bytes per block', () => {
    for (const t of GGML_TYPE_TRAITS) {
      expect(codecFor(t.type) !== undefined, t.name).toBe(t.hasCodec);
      if (!t.hasCodec) continue;
      const numElements = 2 * t.blockSize;
      const values = Float32Array.from({ length: numElements }, (_, i) => Math.sin(i));
      expect(codecFor(t.type)!.quantize(values).length, t.name).toBe(2 * t.typeSize);
    }
  });

  it('only gives native support to types the reference backend can check it against', () => {
    for (const t of GGML_TYPE_TRAITS.filter((row) => row.native)) {
      expect(t.hasCodec, t.name).toBe(true);
      if (t.native!.hasEmbedding || t.native!.packedFrom) expect(t.native!.hasMatmul, t.name).toBe(true);
    }
  });

  it('derives the lists the backends use', () => {
    expect([...ggmlTypesWhere((t) => t.native?.hasEmbedding === true)].map(ggmlTypeName)).toEqual(['F32', 'F16', 'Q4_0', 'Q8_0', 'BF16']);
    expect([...ggmlTypesWhere((t) => t.native?.hasMatmul === true)].map(ggmlTypeName)).toEqual(['F32', 'F16', 'Q4_0', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K', 'BF16', 'MXFP4', 'NVFP4', 'FP8_E4M3']);
    expect([...ggmlTypesWhere((t) => t.native?.packedFrom !== undefined)].map(ggmlTypeName)).toEqual(['Q4_0', 'Q8_0', 'Q4_K', 'MXFP4', 'NVFP4', 'FP8_E4M3']);
  });
});
