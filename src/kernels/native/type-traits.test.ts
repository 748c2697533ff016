/** The addon's type table (native/type-traits.h) against the TypeScript one (src/formats/ggml-type.ts), type by type. */
import { describe, expect, it } from 'vitest';
import { GGML_TYPE_TRAITS, ggmlByteSize, ggmlTypeName, ggmlTypeTraits } from '../../formats/ggml-type.js';
import { NATIVE_ISAS, NativeStatus, loadNativeAddon, type NativeTypeTraits } from './native-addon.js';

const loaded = loadNativeAddon();

describe.skipIf(!loaded.ok)('native type traits', () => {
  const addon = loaded.ok ? loaded.addon : undefined!;
  const reported = addon.typeTraits() as NativeTypeTraits[];

  it('reports a list', () => {
    expect(Array.isArray(reported)).toBe(true);
    expect(new Set(reported.map((t) => t.type)).size).toBe(reported.length);
  });

  it('agrees with the TypeScript table on every type the addon knows', () => {
    for (const native of reported) {
      const traits = ggmlTypeTraits(native.type);
      expect(traits, `type ${native.type} (${native.name})`).toBeDefined();
      const label = traits!.name;
      expect(native.name, label).toBe(traits!.name);
      expect([native.blockSize, native.blockBytes], label).toEqual([traits!.blockSize, traits!.typeSize]);
      expect(traits!.native, `${label}: the TypeScript table has no native support`).toBeDefined();
      expect({ hasMatmul: native.hasMatmul, hasEmbedding: native.hasEmbedding }, label).toEqual({
        hasMatmul: traits!.native!.hasMatmul,
        hasEmbedding: traits!.native!.hasEmbedding,
      });
    }
  });

  it('knows every type the TypeScript table says native supports', () => {
    const nativeTypes = new Set(reported.map((t) => t.type));
    for (const traits of GGML_TYPE_TRAITS.filter((t) => t.native)) expect(nativeTypes.has(traits.type), traits.name).toBe(true);
  });

  it('checks row sizes as the table says: matmul takes whole blocks and rejects a partial one', () => {
    const handle = addon.createContext(1, 0);
    if (typeof handle === 'number') throw new Error(`createContext: ${handle}`);
    try {
      for (const { type, blockSize } of reported) {
        const numRows = 2;
        const numCols = blockSize * 2;
        const w = new Uint8Array(ggmlByteSize(type, numRows * numCols)); // zero blocks: finite everywhere
        const x = new Float32Array(numCols);
        const out = new Float32Array(numRows);
        expect(addon.matmul(handle, out, w, type, numRows, numCols, x, 1, 0), ggmlTypeName(type)).toBe(NativeStatus.OK);
        expect(addon.matmul(handle, out, w.subarray(1), type, numRows, numCols, x, 1, 0), `${ggmlTypeName(type)}: one byte short`).toBe(NativeStatus.BAD_ARGUMENT);
        if (blockSize > 1) expect(addon.matmul(handle, out, w, type, numRows, numCols - 1, x, 1, 0), `${ggmlTypeName(type)}: partial block`).toBe(NativeStatus.BAD_ARGUMENT);
      }
    } finally {
      addon.disposeContext(handle);
    }
  });

  it('packs exactly the types the table says have a packed layout at each kernel level this CPU has', () => {
    for (let isa = 0; isa <= addon.bestIsa(); isa++) {
      const handle = addon.createContext(1, isa);
      if (typeof handle === 'number') throw new Error(`createContext: ${handle}`);
      try {
        for (const traits of GGML_TYPE_TRAITS.filter((t) => t.native)) {
          const numRows = 16;
          const numCols = traits.blockSize === 1 ? 64 : traits.blockSize;
          const bytes = addon.packedBytes(handle, traits.type, numRows, numCols);
          const packedFrom = traits.native!.packedFrom;
          const canPack = packedFrom !== undefined && isa >= NATIVE_ISAS.indexOf(packedFrom);
          expect(bytes > 0, `${traits.name} at ${NATIVE_ISAS[isa]}`).toBe(canPack);
          expect(bytes, traits.name).toBeGreaterThanOrEqual(0);
          const w = new Uint8Array(ggmlByteSize(traits.type, numRows * numCols));
          const status = addon.packWeights(handle, w, traits.type, numRows, numCols, new Uint8Array(bytes));
          expect(status, traits.name).toBe(canPack ? NativeStatus.OK : NativeStatus.UNSUPPORTED_TYPE);
          if (canPack) expect(addon.packWeights(handle, w, traits.type, numRows, numCols, new Uint8Array(bytes - 1)), `${traits.name}: out one byte short`).toBe(NativeStatus.BAD_ARGUMENT);
        }
      } finally {
        addon.disposeContext(handle);
      }
    }
  });
});
