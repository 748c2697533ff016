/**
 * ggml tensor types as stored in GGUF files, and the one table of what Peregrine knows about each:
 * block layout, whether src/quant has a codec for it, what the native backend does with it, and
 * the llama_ftype of a model made of it. Every list of "supported types" is derived from this table.
 *
 * Adding a format: a codec file in src/quant (registered; `hasCodec` here), a kernel file in native/
 * (`native` here, and its row in native/type-traits.h), a row here, conformance cases.
 */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  /** Peregrine's own (llama.cpp has no FP8 weight type): OCP MXFP8 E4M3 blocks, src/quant/fp8.ts */
  FP8_E4M3 = 1000,
}

/**
 * Types Peregrine defines itself take ids from here up, far above llama.cpp's (0..42 in use in
 * 2026, assigned one by one as formats arrive), so that a llama.cpp type can never take one of them
 * and llama.cpp refuses such a file instead of misreading it. The GGUF writer refuses to write a
 * Peregrine type under an id below this.
 */
export const PEREGRINE_TYPE_ID_BASE = 1000;

export type GgmlTypeName = keyof typeof GgmlType;

/** What the native backend runs itself; a type without it goes to the reference backend. */
export interface NativeTypeSupport {
  /** matmul (and matmulSwiglu) on the GGUF bytes */
  readonly hasMatmul: boolean;
  /** embedding rows from the GGUF bytes (without it, only from a table uploadWeight packed) */
  readonly hasEmbedding: boolean;
  /**
   * the lowest kernel level with a packed layout, where packWeights / uploadWeight repack it (8 rows
   * interleaved on AVX2, 16 on AVX-512 and above; MXFP4 / NVFP4: 8 on every level);
   * undefined when no level has one
   */
  readonly packedFrom?: 'avx2' | 'avx512';
}

export interface GgmlTypeTraits {
  readonly type: GgmlType;
  readonly name: GgmlTypeName;
  /** elements per block */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
  /** values stored in blocks with scales (ggml_is_quantized) */
  readonly isQuantized: boolean;
  /** src/quant registers a codec (quantize, dequantize); the reference backend runs every such type */
  readonly hasCodec: boolean;
  /** what the native backend runs itself; undefined: nothing (it falls back to the reference backend) */
  readonly native: NativeTypeSupport | undefined;
  /** llama_ftype (general.file_type) of a model whose matrices are all this type; undefined where llama.cpp has none */
  readonly fileType: number | undefined;
  /** a ggml (llama.cpp) type; false for Peregrine's own, whose ids are PEREGRINE_TYPE_ID_BASE and up */
  readonly isLlamaCppType: boolean;
}

type TraitsRow = Omit<GgmlTypeTraits, 'type' | 'name' | 'isQuantized' | 'hasCodec' | 'native' | 'fileType' | 'isLlamaCppType'> & {
  readonly hasCodec?: true;
  /** Peregrine's own type, not llama.cpp's */
  readonly isPeregrineType?: true;
  readonly native?: NativeTypeSupport;
  readonly fileType?: number;
};

const MATMUL_EMBEDDING: NativeTypeSupport = { hasMatmul: true, hasEmbedding: true };
const MATMUL_EMBEDDING_PACKED_FROM_AVX2: NativeTypeSupport = { hasMatmul: true, hasEmbedding: true, packedFrom: 'avx2' };
/** k-quants (× Q8_K activations), MXFP4 / NVFP4 (× Q8_0), FP8_E4M3 (× f32): matmul; embedding natively only from a packed table, else on the reference backend */
const MATMUL: NativeTypeSupport = { hasMatmul: true, hasEmbedding: false };
const MATMUL_PACKED_FROM_AVX2: NativeTypeSupport = { hasMatmul: true, hasEmbedding: false, packedFrom: 'avx2' };

const TABLE = {
  F32:     { blockSize: 1,   typeSize: 4,   hasCodec: true, native: MATMUL_EMBEDDING, fileType: 0 },
  F16:     { blockSize: 1,   typeSize: 2,   hasCodec: true, native: MATMUL_EMBEDDING, fileType: 1 },
  BF16:    { blockSize: 1,   typeSize: 2,   hasCodec: true, native: MATMUL_EMBEDDING, fileType: 32 },
  F64:     { blockSize: 1,   typeSize: 8 },
  I8:      { blockSize: 1,   typeSize: 1 },
  I16:     { blockSize: 1,   typeSize: 2 },
  I32:     { blockSize: 1,   typeSize: 4 },
  I64:     { blockSize: 1,   typeSize: 8 },
  Q4_0:    { blockSize: 32,  typeSize: 18,  hasCodec: true, native: MATMUL_EMBEDDING_PACKED_FROM_AVX2, fileType: 2 },
  Q4_1:    { blockSize: 32,  typeSize: 20 },
  Q5_0:    { blockSize: 32,  typeSize: 22,  hasCodec: true }, // llama-quantize's fallback for Q4_K rows not a multiple of 256: the reference backend runs it
  Q5_1:    { blockSize: 32,  typeSize: 24 },
  Q8_0:    { blockSize: 32,  typeSize: 34,  hasCodec: true, native: MATMUL_EMBEDDING_PACKED_FROM_AVX2, fileType: 7 },
  Q8_1:    { blockSize: 32,  typeSize: 36 },
  Q2_K:    { blockSize: 256, typeSize: 84 },
  Q3_K:    { blockSize: 256, typeSize: 110 },
  Q4_K:    { blockSize: 256, typeSize: 144, hasCodec: true, native: MATMUL_PACKED_FROM_AVX2, fileType: 14 }, // 14: Q4_K_S
  Q5_K:    { blockSize: 256, typeSize: 176, hasCodec: true, native: MATMUL, fileType: 16 }, // 16: Q5_K_S
  Q6_K:    { blockSize: 256, typeSize: 210, hasCodec: true, native: MATMUL, fileType: 18 },
  Q8_K:    { blockSize: 256, typeSize: 292, hasCodec: true }, // activations only: no llama_ftype
  IQ2_XXS: { blockSize: 256, typeSize: 66 },
  IQ2_XS:  { blockSize: 256, typeSize: 74 },
  IQ3_XXS: { blockSize: 256, typeSize: 98 },
  IQ1_S:   { blockSize: 256, typeSize: 50 },
  IQ4_NL:  { blockSize: 32,  typeSize: 18 },
  IQ3_S:   { blockSize: 256, typeSize: 110 },
  IQ2_S:   { blockSize: 256, typeSize: 82 },
  IQ4_XS:  { blockSize: 256, typeSize: 136 },
  IQ1_M:   { blockSize: 256, typeSize: 56 },
  TQ1_0:   { blockSize: 256, typeSize: 54 },
  TQ2_0:   { blockSize: 256, typeSize: 66 },
  MXFP4:   { blockSize: 32,  typeSize: 17,  hasCodec: true, native: MATMUL_PACKED_FROM_AVX2, fileType: 38 }, // 38: llama.cpp's MXFP4_MOE, what it names a mostly-MXFP4 file
  NVFP4:   { blockSize: 64,  typeSize: 36,  hasCodec: true, native: MATMUL_PACKED_FROM_AVX2, fileType: 39 },
  // no llama_ftype exists; 1000 + the type id marks a file of Peregrine's own type (llama.cpp only reads general.file_type as a label)
  FP8_E4M3: { blockSize: 32, typeSize: 33,  hasCodec: true, native: MATMUL_PACKED_FROM_AVX2, fileType: 2000, isPeregrineType: true },
} as const satisfies Record<GgmlTypeName, TraitsRow>;

/** Type names with a codec and a llama_ftype: the types a whole model can be written in. */
export type GgmlModelTypeName = {
  [K in GgmlTypeName]: (typeof TABLE)[K] extends { readonly hasCodec: true; readonly fileType: number } ? K : never;
}[GgmlTypeName];

const TRAITS: ReadonlyMap<GgmlType, GgmlTypeTraits> = new Map(
  (Object.entries(TABLE) as [GgmlTypeName, TraitsRow][]).map(([name, row]) => {
    const type = GgmlType[name];
    const traits: GgmlTypeTraits = {
      type,
      name,
      blockSize: row.blockSize,
      typeSize: row.typeSize,
      isQuantized: row.blockSize > 1,
      hasCodec: row.hasCodec ?? false,
      native: row.native,
      fileType: row.fileType,
      isLlamaCppType: row.isPeregrineType !== true,
    };
    return [type, Object.freeze(traits)];
  }),
);

/** Every type's traits, in GgmlType order. */
export const GGML_TYPE_TRAITS: readonly GgmlTypeTraits[] = [...TRAITS.values()].sort((a, b) => a.type - b.type);

export function ggmlTypeTraits(type: number): GgmlTypeTraits | undefined {
  return TRAITS.get(type as GgmlType);
}

/** The types whose traits satisfy `predicate`, as a set. */
export function ggmlTypesWhere(predicate: (traits: GgmlTypeTraits) => boolean): ReadonlySet<GgmlType> {
  return new Set(GGML_TYPE_TRAITS.filter(predicate).map((t) => t.type));
}

export function ggmlTypeName(type: number): string {
  return GgmlType[type] ?? `type#${type}`;
}

/** Bytes needed for `numElements` of `type` (numElements must be a multiple of the block size). */
export function ggmlByteSize(type: GgmlType, numElements: number): number {
  const traits = TRAITS.get(type);
  if (!traits) throw new Error(`no traits for ggml type ${type}`);
  return (numElements / traits.blockSize) * traits.typeSize;
}
