/** The TypeScript side of the native backend: loading, options, typed errors, dispose. Kernel numerics are in kernel-conformance.test.ts. */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../errors/engine-error.js';
import { GgmlType } from '../../formats/ggml-type.js';
import type { WeightTensor } from '../kernel-backend.js';
import { ReferenceBackend } from '../reference/reference-backend.js';
import { NATIVE_ISAS, NativeStatus, type NativeIsa } from './native-addon.js';
import { quantize } from '../../quant/index.js';
import { NativeKernelError, fastestMatmulPrecision, isaCapFromEnv, loadNativeBackend, probeNativeBackend } from './native-backend.js';
import { selectBackend } from '../select-backend.js';

const probe = probeNativeBackend({ threads: 2 });

describe('native backend loading', () => {
  it('reports why it is unavailable instead of throwing', () => {
    const result = probeNativeBackend({ addonPath: '/nonexistent/peregrine.node' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/not built/);
    expect(loadNativeBackend({ addonPath: '/nonexistent/peregrine.node' })).toBeUndefined();
  });

  it('reads the PEREGRINE_ISA cap, and rejects an unknown one', () => {
    expect(isaCapFromEnv({})).toBeUndefined();
    expect(isaCapFromEnv({ PEREGRINE_ISA: '' })).toBeUndefined();
    for (const isa of NATIVE_ISAS) expect(isaCapFromEnv({ PEREGRINE_ISA: isa })).toBe(isa);
    expect(() => isaCapFromEnv({ PEREGRINE_ISA: 'avx-512' })).toThrow(/PEREGRINE_ISA must be one of amx, avx512-bf16, avx512, avx2, scalar \(got 'avx-512'\)/);
  });

  it('rejects a bad thread count', () => {
    const result = probeNativeBackend({ threads: 0 });
    expect(result.ok).toBe(false);
  });
});

describe.skipIf(!probe.ok)('native backend', () => {
  const backend = probe.ok ? probe.backend : undefined!;

  it('uses the threads and instruction set it was given', () => {
    expect(backend.numThreads).toBe(2);
    expect(backend.name).toBe(`native-${backend.isa}`);
    const scalar = loadNativeBackend({ isa: 'scalar', threads: 1 })!;
    expect(scalar.isa).toBe('scalar');
    expect(scalar.numThreads).toBe(1);
    scalar.dispose();
  });

  it('caps the kernels at PEREGRINE_ISA, never above what the CPU has', () => {
    const saved = process.env.PEREGRINE_ISA;
    const cpuBest = loadNativeBackend({ isa: 'amx', threads: 1 })!; // an explicit isa option outranks the environment
    cpuBest.dispose();
    try {
      process.env.PEREGRINE_ISA = 'scalar';
      const capped = loadNativeBackend({ threads: 1 })!;
      expect(capped.isa).toBe('scalar');
      capped.dispose();
      process.env.PEREGRINE_ISA = 'amx';
      const best = loadNativeBackend({ threads: 1 })!;
      expect(best.isa).toBe(cpuBest.isa);
      best.dispose();
      process.env.PEREGRINE_ISA = 'sse9';
      expect(probeNativeBackend({ threads: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/PEREGRINE_ISA must be one of/) });
      expect(() => selectBackend('auto', { threads: 1 })).toThrow(/PEREGRINE_ISA/); // no silent fall back to TypeScript
    } finally {
      if (saved === undefined) delete process.env.PEREGRINE_ISA;
      else process.env.PEREGRINE_ISA = saved;
    }
  });

  it('turns a bad argument into a typed error naming the problem', () => {
    const w: WeightTensor = { name: 'w', type: GgmlType.Q8_0, numRows: 4, numCols: 64, data: new Uint8Array(4 * 2 * 34 - 1) };
    let error: unknown;
    try {
      backend.matmul(new Float32Array(4), w, new Float32Array(64), 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NativeKernelError);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as NativeKernelError).code).toBe('NATIVE_BACKEND_FAILED');
    expect((error as NativeKernelError).status).toBe(NativeStatus.BAD_ARGUMENT);
    expect((error as Error).message).toMatch(/w\.data has 271 bytes, needs 272/);
  });

  it('checks KV indices before touching memory', () => {
    const kv = { dtype: 'f16' as const, k: new Uint16Array(16 * 8), v: new Uint16Array(16 * 8), blockTable: Int32Array.from([0, 5]), blockSize: 8 };
    const shape = { numHeads: 2, numKvHeads: 1, headDim: 8, scale: 1 };
    const q = new Float32Array(16);
    expect(() => backend.attention(new Float32Array(16), q, kv, kv.blockTable, Int32Array.from([9]), 1, shape)).toThrow(/blockTable\[1\] = 5/);
    expect(() => backend.attention(new Float32Array(16), q, kv, kv.blockTable, Int32Array.from([16]), 1, shape)).toThrow(/needs 3 blocks/);
    // attentionBatch: one block table per token, each checked up to its own position
    const tables = Int32Array.from([0, 1, 1, 5]); // token 0: blocks 0, 1; token 1: blocks 1, 5
    const two = new Float32Array(32);
    expect(() => backend.attentionBatch(two, two, kv, tables, 2, Int32Array.from([9, 7]), 2, shape)).not.toThrow();
    expect(() => backend.attentionBatch(two, two, kv, tables, 2, Int32Array.from([9, 9]), 2, shape)).toThrow(/blockTable\[3\] = 5/);
    expect(() => backend.attentionBatch(two, two, kv, tables, 3, Int32Array.from([9, 9]), 2, shape)).toThrow(/shorter than numTokens \* blockTableStride/);
    expect(() => backend.attentionBatch(two, two, kv, tables, 2, Int32Array.from([1, 16]), 2, shape)).toThrow(/needs 3 blocks but the block table has 2/);
    expect(() => backend.storeKv(kv, new Float32Array(8), new Float32Array(8), Int32Array.from([16]), 1)).toThrow(/slotIds\[0\] = 16/);
    expect(() => backend.embedding(new Float32Array(8), { name: 't', type: GgmlType.F32, numRows: 2, numCols: 8, data: new Uint8Array(64) }, Int32Array.from([2]))).toThrow(
      /ids\[0\] = 2/,
    );
  });

  it('allocates huge-page weight memory the kernels can read', () => {
    const bytes = backend.allocateWeights(3 * 32 * 4);
    expect(bytes.length).toBe(384);
    expect(bytes.every((b) => b === 0)).toBe(true);
    new Float32Array(bytes.buffer).set([1, 2, 3], 32);
    const out = new Float32Array(3);
    backend.matmul(out, { name: 'w', type: GgmlType.F32, numRows: 3, numCols: 32, data: bytes }, new Float32Array(32).fill(1), 1);
    expect(Array.from(out)).toEqual([0, 6, 0]);
    expect(() => backend.allocateWeights(-1)).toThrow(NativeKernelError);
  });

  it('allocates weight memory of 2 MiB and more (huge pages) and of 0 bytes', () => {
    const big = backend.allocateWeights(2 ** 21 + 1000);
    expect(big.length).toBe(2 ** 21 + 1000);
    for (let i = 0; i < big.length; i += 4093) expect(big[i]).toBe(0);
    big[big.length - 1] = 7; // the last byte is mapped
    expect(big[big.length - 1]).toBe(7);
    expect(backend.allocateWeights(0).length).toBe(0);
  });

  it('measures a memory read bandwidth (the benchmark roofline) from reading every line', () => {
    // a probe that skipped the reads would claim terabytes per second
    const gbs = backend.measureReadBandwidth(32 * 2 ** 20, 2);
    expect(gbs).toBeGreaterThan(0.1);
    expect(gbs).toBeLessThan(5_000);
    expect(() => backend.measureReadBandwidth(0)).toThrow(/at least 1 MiB/);
    expect(() => backend.measureReadBandwidth(2 ** 20, 0)).toThrow(EngineError);
  });

  it('gives bit-identical matmuls on 1 and 3 threads, call after call (thread pool hand-off)', () => {
    // 1-3 tokens: guided tasks of 512, 512, 512, 512, 512 and 435 rows (at least 2^17 weights); 12: 4 a thread
    const numRows = 2995;
    const numCols = 256;
    const data = new Uint8Array(numRows * (numCols / 32) * 34);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    for (let b = 0; b < data.length; b += 34) data.set([0, 0x1c], b); // finite f16 scales
    const w: WeightTensor = { name: 'w', type: GgmlType.Q8_0, numRows, numCols, data };
    const one = loadNativeBackend({ threads: 1 })!;
    const three = loadNativeBackend({ threads: 3 })!;
    const x = Float32Array.from({ length: 12 * numCols }, (_, i) => Math.sin(i));
    for (let call = 0; call < 500; call++) {
      const numTokens = call % 4 === 3 ? 12 : 1 + (call % 4);
      const expected = new Float32Array(numTokens * numRows);
      const actual = new Float32Array(numTokens * numRows);
      one.matmul(expected, w, x, numTokens);
      three.matmul(actual, w, x, numTokens);
      if (actual.some((v, i) => !Object.is(v, expected[i]))) throw new Error(`call ${call}: results differ`);
    }
    one.dispose();
    three.dispose();
  });

  it('reads the planned next weight ahead without changing a result, on packed and plain weights', () => {
    // after a matmul by a planned weight a worker reads the next one until the next call that uses
    // the threads: every kind of call after it (a matmul in or out of the plan's order, a
    // one-thread op, a new plan) must find the pool in order
    const numCols = 2048;
    const make = (numRows: number): WeightTensor => {
      const data = new Uint8Array(numRows * (numCols / 32) * 18);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      for (let b = 0; b < data.length; b += 18) data.set([0, 0x1c], b);
      return { name: 'w', type: GgmlType.Q4_0, numRows, numCols, data };
    };
    const three = loadNativeBackend({ threads: 3 })!;
    const one = loadNativeBackend({ threads: 1 })!;
    const plain = [make(16), make(300), make(4096)];
    const prepared = plain.map((w) => three.uploadWeight(w));
    // (the one-thread results come from the same layout: on AVX2 packed and row-major weights sum in different orders)
    const preparedOne = plain.map((w) => one.uploadWeight(w));
    three.planReadAhead([prepared[0]!, plain[1]!, prepared[2]!, plain[2]!]);
    one.planReadAhead(plain); // no workers: nothing to do
    const x = Float32Array.from({ length: 2 * numCols }, (_, i) => Math.cos(i * 0.37));
    const sum = new Float32Array(8);
    for (let call = 0; call < 300; call++) {
      const k = call < 150 ? call % 3 : (call * 7) % 3;
      const numTokens = 1 + (call % 2);
      const isPrepared = call % 4 < 2;
      const w = isPrepared ? prepared[k]! : plain[k]!;
      if (call % 5 === 0) three.add(sum, sum, sum, 8); // one thread: a read ahead goes on beside it
      if (call === 200) three.planReadAhead(prepared);
      const expected = new Float32Array(numTokens * w.numRows);
      const actual = new Float32Array(numTokens * w.numRows);
      one.matmul(expected, isPrepared ? preparedOne[k]! : plain[k]!, x, numTokens);
      three.matmul(actual, w, x, numTokens);
      if (actual.some((v, i) => !Object.is(v, expected[i]))) throw new Error(`call ${call}: results differ`);
    }
    expect(() => three.planReadAhead([{ ...plain[0]!, numCols: 33 }])).toThrow(/weights\[0\]: bad type or shape/);
    three.planReadAhead([]);
    three.planReadAhead(prepared);
    three.matmul(new Float32Array(4096), prepared[1]!, x, 1); // reads prepared[2] ahead...
    three.dispose(); // ...which dispose stops before the plan's weights are let go
    one.dispose();
  });

  it('packs reserved weights into one mapping a thread faults in, the bytes of a pack without', () => {
    const numCols = 2048;
    const make = (numRows: number, type: GgmlType.Q4_0 | GgmlType.Q8_0): WeightTensor => {
      const blockBytes = type === GgmlType.Q4_0 ? 18 : 34;
      const data = new Uint8Array(numRows * (numCols / 32) * blockBytes);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      for (let b = 0; b < data.length; b += blockBytes) data.set([0, 0x1c], b);
      return { name: 'w', type, numRows, numCols, data };
    };
    // 300 rows: a last group of 12
    const plain = [make(16, GgmlType.Q4_0), make(300, GgmlType.Q8_0), make(4096, GgmlType.Q4_0)];
    const one = loadNativeBackend({ threads: 1 })!;
    const three = loadNativeBackend({ threads: 3 })!;
    const serial = plain.map((w) => one.uploadWeight(w));
    three.reserveWeights(plain.slice(1));
    const reserved = plain.map((w) => three.uploadWeight(w));
    expect(new Set(reserved.map((w) => w.data.buffer)).size).toBe(1); // the first upload took the reserved mapping
    for (let i = 0; i < plain.length; i++) expect(Buffer.compare(reserved[i]!.data, serial[i]!.data)).toBe(0);
    const x = Float32Array.from({ length: numCols }, (_, i) => Math.cos(i * 0.37));
    const expected = new Float32Array(4096);
    const actual = new Float32Array(4096);
    one.matmul(expected, serial[2]!, x, 1);
    three.matmul(actual, reserved[2]!, x, 1);
    expect(actual).toEqual(expected);
    three.reserveWeights(plain); // a thread faults in while dispose stops it
    three.dispose();
    expect(() => three.reserveWeights(plain)).not.toThrow(); // a hint: nothing to do
    one.dispose();
  });

  it('fails with DISPOSED after dispose()', () => {
    const b = loadNativeBackend({ threads: 2 })!;
    b.dispose();
    expect(() => b.add(new Float32Array(1), new Float32Array(1), new Float32Array(1), 1)).toThrow(/DISPOSED/);
    b.dispose(); // idempotent
  });
});

describe.skipIf(!probe.ok)("native backend, matmulPrecision 'bf16'", () => {
  // Q8_0 / Q4_0 weights with f16 scales around 0.01 (Q4_K: quantized from a smooth pattern), activations with a few large channels (as in LLMs)
  function weight(type: GgmlType, numRows: number, numCols: number): WeightTensor {
    if (type === GgmlType.Q4_K) {
      const values = Float32Array.from({ length: numRows * numCols }, (_, i) => 0.02 * Math.sin(i * 0.61) + 0.01 * Math.cos(i * 0.013));
      return { name: 'w', type, numRows, numCols, data: quantize(type, values) };
    }
    const blockBytes = type === GgmlType.Q4_0 ? 18 : 34;
    const data = new Uint8Array((numRows * numCols * blockBytes) / 32);
    for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i + 1, 2654435761) >>> 13) & 0xff;
    for (let b = 0; b < data.length; b += blockBytes) data.set([(b * 7) & 0xff, 0x20 + ((b >> 5) & 3)], b); // f16 scales ~0.008..0.06
    return { name: 'w', type, numRows, numCols, data };
  }

  /** out [numTokens, numRows] of one matmul on a fresh backend; hasBf16Batches as it reported */
  function matmulWith(options: { matmulPrecision: 'exact' | 'bf16'; isa?: NativeIsa }, w: WeightTensor, x: Float32Array, numTokens: number) {
    const b = loadNativeBackend({ threads: 2, ...options })!;
    const out = new Float32Array(numTokens * w.numRows);
    b.matmul(out, b.uploadWeight(w), x, numTokens);
    b.dispose();
    return { out, hasBf16Batches: b.hasBf16Batches, isa: b.isa };
  }

  /** each output's RMS error against the f64 product of `w`'s dequantized values and `x`, relative to the product's RMS */
  function relativeErrors(w: WeightTensor, x: Float32Array, numTokens: number, outs: readonly Float32Array[]): number[] {
    const { numRows, numCols } = w;
    const dequantized = new Float32Array(numRows * numCols);
    new ReferenceBackend().embedding(dequantized, w, Int32Array.from({ length: numRows }, (_, r) => r));
    const errs = outs.map(() => 0);
    let norm = 0;
    for (let t = 0; t < numTokens; t++) {
      for (let r = 0; r < numRows; r++) {
        let truth = 0;
        for (let c = 0; c < numCols; c++) truth += dequantized[r * numCols + c]! * x[t * numCols + c]!;
        outs.forEach((out, i) => (errs[i]! += (out[t * numRows + r]! - truth) ** 2));
        norm += truth ** 2;
      }
    }
    return errs.map((e) => Math.sqrt(e / norm));
  }

  it.each([
    ['Q4_0', GgmlType.Q4_0],
    ['Q8_0', GgmlType.Q8_0],
    ['Q4_K', GgmlType.Q4_K],
  ] as const)('is closer to the f64 product than the exact 8-bit activations (%s, 40 tokens)', (_name, type) => {
    const numRows = 300; // 2 threads: tasks of 48 rows (a pair of 16-row groups and a single), the last one 12 rows
    const numCols = 512;
    const numTokens = 40; // a pair of 16-token tiles and a partial one
    const w = weight(type, numRows, numCols);
    const x = Float32Array.from({ length: numTokens * numCols }, (_, i) => Math.sin(i * 0.37) * (i % 97 === 0 ? 20 : 1));
    const exact = matmulWith({ matmulPrecision: 'exact' }, w, x, numTokens).out;
    const { out: bf16, hasBf16Batches } = matmulWith({ matmulPrecision: 'bf16' }, w, x, numTokens);
    if (!hasBf16Batches) {
      // this CPU's kernels have no bf16 batches: the precision falls back to exact, bit for bit
      expect(Array.from(bf16)).toEqual(Array.from(exact));
      return;
    }
    const [relExact, relBf16] = relativeErrors(w, x, numTokens, [exact, bf16]) as [number, number];
    expect(relExact).toBeGreaterThan(1e-4); // Q8_0 activations do lose something
    expect(relBf16).toBeLessThan(relExact); // measured on AMX: Q4_0 0.0020 vs 0.0096, Q8_0 0.0034 vs 0.0134, Q4_K 0.0033 vs 0.0334 (Q8_K: 256-element blocks); vdpbf16ps on Zen 5: the same to 2 digits
    expect(bf16.some((v, i) => v !== exact[i])).toBe(true); // the bf16 kernels did run
  });

  it('FP8_E4M3 (40 tokens): exact keeps f32 activations; bf16 (vdpbf16ps without AMX) stays within bf16 rounding of the f64 product', () => {
    const numRows = 300;
    const numCols = 512;
    const numTokens = 40;
    const values = Float32Array.from({ length: numRows * numCols }, (_, i) => 0.02 * Math.sin(i * 0.61) + 0.01 * Math.cos(i * 0.013));
    const w: WeightTensor = { name: 'w', type: GgmlType.FP8_E4M3, numRows, numCols, data: quantize(GgmlType.FP8_E4M3, values) };
    const x = Float32Array.from({ length: numTokens * numCols }, (_, i) => Math.sin(i * 0.37) * (i % 97 === 0 ? 20 : 1));
    const exact = matmulWith({ matmulPrecision: 'exact' }, w, x, numTokens).out;
    const { out: bf16, hasBf16Batches, isa } = matmulWith({ matmulPrecision: 'bf16' }, w, x, numTokens);
    const relError = (out: Float32Array): number => relativeErrors(w, x, numTokens, [out])[0]!;
    expect(relError(exact)).toBeLessThan(1e-6);
    if (!hasBf16Batches || isa === 'amx') {
      expect(Array.from(bf16)).toEqual(Array.from(exact)); // no bf16 kernel for FP8 there
      return;
    }
    expect(relError(bf16)).toBeGreaterThan(1e-5); // the activations were rounded: the bf16 kernels ran
    expect(relError(bf16)).toBeLessThan(5e-3); // measured on Zen 5: 0.0026 (exact: 1.7e-7)
  });

  it.each([
    ['Q4_0', GgmlType.Q4_0],
    ['Q4_K', GgmlType.Q4_K],
  ] as const)("falls back to exact, bit for bit, below AVX-512-BF16 (isa 'avx512', %s)", (_name, type) => {
    const numTokens = 24;
    const w = weight(type, 64, 256);
    const x = Float32Array.from({ length: numTokens * 256 }, (_, i) => Math.cos(i * 0.29));
    const exact = matmulWith({ matmulPrecision: 'exact', isa: 'avx512' }, w, x, numTokens);
    const bf16 = matmulWith({ matmulPrecision: 'bf16', isa: 'avx512' }, w, x, numTokens);
    expect(bf16.hasBf16Batches).toBe(false);
    expect(Array.from(bf16.out)).toEqual(Array.from(exact.out));
  });

  it("'fastest' is bf16 where AMX tiles make it faster, exact elsewhere (vdpbf16ps is slower than vpdpbusd)", () => {
    const result = probeNativeBackend({ threads: 1, matmulPrecision: 'fastest' });
    if (!result.ok) throw new Error(result.reason);
    using b = result.backend;
    expect(b.matmulPrecision).toBe(b.isa === 'amx' ? 'bf16' : 'exact');
    expect(b.hasBf16Batches).toBe(b.isa === 'amx');
    expect(fastestMatmulPrecision('avx512-bf16')).toBe('exact');
    expect(fastestMatmulPrecision('amx')).toBe('bf16');
  });

  it('rejects an unknown precision', () => {
    const result = probeNativeBackend({ matmulPrecision: 'fp8' as 'bf16' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/unknown matmul precision fp8/);
  });
});
