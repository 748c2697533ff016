import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { Rng } from '../util/rng.js';
import type { AttentionShape, KernelBackend, KvCacheType } from './kernel-backend.js';
import { checkKvCacheType, KV_CACHE_TYPES, kvRowBytes } from './kv-cache-type.js';
import { probeNativeBackend } from './native/native-backend.js';
import { ReferenceBackend } from './reference/reference-backend.js';

describe('KV cache types', () => {
  it('size their rows: 4, 2, 2, 1 bytes a value; q8_0 34 bytes per 32 values', () => {
    expect(KV_CACHE_TYPES.map((t) => kvRowBytes(t, 512))).toEqual([2048, 1024, 1024, 512, 544]);
  });

  it('refuse an unknown type, and q8_0 for rows that are not whole 32-value blocks', () => {
    expect(() => checkKvCacheType('q4_0', 64)).toThrow(/one of f32, f16, bf16, fp8, q8_0 \(got q4_0\)/);
    expect(() => checkKvCacheType('q8_0', 48)).toThrow(InvalidRequestError);
    expect(() => checkKvCacheType('q8_0', 48)).toThrow(/this model's are 48 values/);
    expect(() => checkKvCacheType('fp8', 48)).not.toThrow();
  });
});

// Attention over each KV type against the same K and V in an f32 cache: Llama-like scales (K rows
// ~N(0, 2²) with outlier dimensions ×8, so softmax is peaked and amplifies K's rounding; V
// ~N(0, 0.5²)), 96 keys, GQA 4, headDim 64, every position decoded. Bounds: the relative RMS error
// of the outputs, about 1.5× what was measured on both backends (f16 0.058%, bf16 0.45%,
// fp8 6.5%, q8_0 2.4%). fp8's 3 mantissa bits cost the most; a scale would not help (E4M3's
// relative step is the same in every binade), only more bits would.
const BOUNDS: Readonly<Record<KvCacheType, number>> = { f32: 0, f16: 0.001, bf16: 0.007, fp8: 0.1, q8_0: 0.036 };

const backends: KernelBackend[] = [new ReferenceBackend()];
const native = probeNativeBackend({ threads: 2 });
if (native.ok) backends.push(native.backend);

describe('KV cache types: attention against an f32 cache', () => {
  const rng = new Rng(7);
  const numKvHeads = 2;
  const headDim = 64;
  const kvDim = numKvHeads * headDim;
  const shape: AttentionShape = { numHeads: 8, numKvHeads, headDim, scale: 1 / 8 };
  const numTokens = 96;
  const k = Float32Array.from({ length: numTokens * kvDim }, (_, i) => rng.gaussian() * 2 * (i % kvDim % 29 === 3 ? 8 : 1));
  const v = Float32Array.from({ length: numTokens * kvDim }, () => rng.gaussian() * 0.5);
  const q = Float32Array.from({ length: numTokens * shape.numHeads * headDim }, () => rng.gaussian());
  const positions = Int32Array.from({ length: numTokens }, (_, i) => i);
  const blockTable = Int32Array.from({ length: Math.ceil(numTokens / 16) }, (_, i) => i);

  const run = (b: KernelBackend, dtype: KvCacheType): Float32Array => {
    const kv = b.allocateKvCache({ numLayers: 1, kvDim, numBlocks: blockTable.length, blockSize: 16, dtype });
    const upload = (x: Float32Array) => {
      const buf = b.allocate(x.length);
      b.write(buf, x);
      return buf;
    };
    b.storeKv(kv.layer(0), upload(k), upload(v), positions, numTokens);
    const out = b.allocate(q.length);
    b.attention(out, upload(q), kv.layer(0), blockTable, positions, numTokens, shape);
    const result = b.read(out).slice();
    kv.dispose();
    return result;
  };

  for (const b of backends) {
    it(`${b.name}: every type within its bound of f32`, () => {
      const exact = run(b, 'f32');
      for (const dtype of KV_CACHE_TYPES) {
        const got = run(b, dtype);
        let squaredError = 0;
        let squared = 0;
        for (let i = 0; i < got.length; i++) {
          squaredError += (got[i]! - exact[i]!) ** 2;
          squared += exact[i]! ** 2;
        }
        expect(Math.sqrt(squaredError / squared), dtype).toBeLessThanOrEqual(BOUNDS[dtype]);
      }
    });
  }
});
