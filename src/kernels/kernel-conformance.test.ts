/**
 * The kernel conformance suite: every op, every weight format, on every backend that loads, against
 * the reference backend (which mirrors llama.cpp's CPU numerics). The native backend runs once per
 * instruction set this CPU supports (so the AVX2 and scalar fallbacks are checked too) and with
 * thread counts that do not divide the row counts.
 *
 * Tolerances are per op and per type, and tight: the backends must quantize activations exactly as
 * the reference does (Q8_0 blocks; Q8_K super-blocks for k-quant weights) and may differ only in f32
 * summation order (and attention in its softmax).
 * Where the reference reproduces llama.cpp's x86 kernels bit for bit (rmsNorm, swiglu, AMX-shaped
 * F16 matmuls, and Q8_0 / Q4_0 matmuls on AVX-512) a backend must too: those cases are exact, as
 * are k-quant matmuls on the scalar and AVX2 kernels, which sum in the reference's order. Shapes cover tails: odd row counts, 1 / 3 / 17 tokens, odd block counts, widths that are
 * not a multiple of the vector width, GQA groups of 1 / 4 / 8, ~600-position contexts with
 * shuffled block tables, f16 and f32 KV caches.
 */
import { describe, expect, it } from 'vitest';
import { GGML_TYPE_TRAITS, GgmlType, ggmlTypeName } from '../formats/ggml-type.js';
import { codecFor, quantize } from '../quant/codec.js';
import { f32ToF16 } from '../quant/float16.js';
import { Rng } from '../util/rng.js';
import { HostKvCache, type HostKvView } from './host-kv-cache.js';
import { KV_CACHE_TYPES } from './kv-cache-type.js';
import { encodeKv } from './reference/kv-codec.js';
import { EngineDeadError } from '../errors/engine-error.js';
import { OpaqueBackend } from '../testing/opaque-backend.js';
import { DisposedError } from './disposed-error.js';
import type { AttentionShape, DeviceBuffer, KernelBackend, KvCacheType, RopeParams, WeightHandle, WeightTensor, WeightUse } from './kernel-backend.js';
import { NATIVE_ISAS } from './native/native-addon.js';
import { probeNativeBackend, type NativeBackend } from './native/native-backend.js';
import { geglu } from './reference/gelu.js';
import { ReferenceBackend } from './reference/reference-backend.js';

// ---------------------------------------------------------------------------------------------
// Backends under test
// ---------------------------------------------------------------------------------------------

const reference = new ReferenceBackend();

interface BackendUnderTest {
  readonly label: string;
  readonly backend: KernelBackend;
}

/**
 * Backends whose Q8_0 / Q4_0 matmul accumulates like llama.cpp (one f32 fma per block, in order):
 * AVX-512, and AVX2 on packed weights (8 rows in the lanes); not AVX2's row-major kernels.
 */
const isBlockExact = (backend: KernelBackend): boolean =>
  backend.name === 'reference' || /^native-(avx512|amx)/.test(backend.name) || /^native-avx2-(packed|prepared)/.test(backend.name);
/** Backends whose k-quant matmul sums in the reference's order (one row, one super-block at a time; AVX2's packed Q4_K keeps 8 rows in lanes, each in that order). */
const isKQuantExact = (backend: KernelBackend): boolean => backend.name === 'reference' || /^native-(scalar|avx2)(-packed)?(-prepared)?$/.test(backend.name);
/** Backends that run Q4_K on packed weights (AVX-512: 16 rows in lanes; AVX2: 8), each row in the reference's order */
const isPackedQ4KExact = (backend: KernelBackend): boolean => isKQuantExact(backend) || /^native-(avx512|amx).*-(packed|prepared)/.test(backend.name);

const backends: BackendUnderTest[] = [{ label: 'reference', backend: reference }];
const nativeProbe = probeNativeBackend({ threads: 3 });
let nativeUnavailable: string | undefined;
if (nativeProbe.ok) {
  const best = nativeProbe.backend.isa;
  nativeProbe.backend.dispose();
  // every instruction set up to the best one, with 3 threads (no row count here divides evenly)
  for (const isa of NATIVE_ISAS.slice(0, NATIVE_ISAS.indexOf(best) + 1)) {
    const probe = probeNativeBackend({ isa, threads: 3 });
    if (probe.ok) backends.push({ label: `${probe.backend.name} ×3`, backend: probe.backend });
  }
  for (const threads of [1, 2]) {
    const probe = probeNativeBackend({ threads });
    if (probe.ok) backends.push({ label: `${probe.backend.name} ×${threads}`, backend: probe.backend });
  }
  // packed Q4_0 / Q8_0 weights (AVX-512 and AVX2; on scalar packing is a no-op and this repeats the plain kernels)
  for (const threads of [1, 3]) {
    const probe = probeNativeBackend({ threads, packWeights: true });
    if (probe.ok) backends.push({ label: `${probe.backend.name} ×${threads}`, backend: probe.backend });
  }
  // weights passed through uploadWeight first, as a model that uploads its weights at load does
  const probe = probeNativeBackend({ threads: 3 });
  if (probe.ok) backends.push({ label: `${probe.backend.name} prepared ×3`, backend: preparing(probe.backend) });
} else {
  nativeUnavailable = nativeProbe.reason;
}

/** `backend` with every weight replaced by backend.uploadWeight(weight) (cached per weight) */
function preparing(native: NativeBackend): KernelBackend {
  const backend: KernelBackend = native;
  const prepared = new Map<WeightHandle, WeightHandle>();
  const prepare = (w: WeightHandle, use: WeightUse): WeightHandle => {
    let p = prepared.get(w);
    if (!p) prepared.set(w, (p = native.uploadWeight(w as WeightTensor, use)));
    return p;
  };
  return {
    name: `${backend.name}-prepared`,
    hasBf16Batches: backend.hasBf16Batches,
    allocate: (...args) => backend.allocate(...args),
    view: (...args) => backend.view(...args),
    write: (...args) => backend.write(...args),
    read: (...args) => backend.read(...args),
    free: (...args) => backend.free(...args),
    uploadWeight: (...args) => backend.uploadWeight(...args),
    freeWeight: (...args) => backend.freeWeight(...args),
    allocateKvCache: (...args) => backend.allocateKvCache(...args),
    dispose: () => backend.dispose(),
    [Symbol.dispose]: () => backend.dispose(),
    matmul: (out, w, x, numTokens) => backend.matmul(out, prepare(w, 'matmul'), x, numTokens),
    matmulSwiglu: (out, w, gateUp, numTokens) => backend.matmulSwiglu(out, prepare(w, 'matmul'), gateUp, numTokens),
    matmulGeglu: (out, w, gateUp, numTokens) => backend.matmulGeglu(out, prepare(w, 'matmul'), gateUp, numTokens),
    embedding: (out, table, ids) => backend.embedding(out, prepare(table, 'embedding'), ids),
    rmsNorm: (...args) => backend.rmsNorm(...args),
    addRmsNorm: (...args) => backend.addRmsNorm(...args),
    rope: (...args) => backend.rope(...args),
    storeKv: (...args) => backend.storeKv(...args),
    attention: (...args) => backend.attention(...args),
    attentionBatch: (...args) => backend.attentionBatch(...args),
    add: (...args) => backend.add(...args),
    addBias: (...args) => backend.addBias(...args),
    scale: (...args) => backend.scale(...args),
    softcap: (...args) => backend.softcap(...args),
    argmaxRows: (...args) => backend.argmaxRows(...args),
    copyRows: (...args) => backend.copyRows(...args),
    gatherRows: (...args) => backend.gatherRows(...args),
  };
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

type Output = Float32Array | Uint16Array | Uint8Array;

interface Case {
  readonly op: string;
  readonly name: string;
  /** runs the op on fresh copies of the inputs and returns what it wrote */
  readonly run: (backend: KernelBackend) => Output;
  /** allowed |actual[i] - expected[i]| given the reference output */
  readonly tolerance: (expected: Output) => (i: number) => number;
  /** backends that must reproduce the reference bit for bit here (default: none beyond `tolerance`) */
  readonly isExactOn?: (backend: KernelBackend) => boolean;
}

const everywhere = (): boolean => true;

const cases: Case[] = [];
const rng = new Rng(20240611);

function gaussian(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.gaussian() * scale;
  return out;
}

function f16Random(n: number, scale = 1): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = f32ToF16(rng.gaussian() * scale);
  return out;
}

function randomInts(n: number, bound: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng.next() * bound);
  return out;
}

function shuffled(n: number): Int32Array {
  const out = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A weight matrix of random values in `type`; `misalign` places the bytes at an odd offset. */
function weight(type: GgmlType, numRows: number, numCols: number, misalign = false): WeightTensor {
  const bytes = quantize(type, gaussian(numRows * numCols, 0.5));
  let data = bytes;
  if (misalign) {
    data = new Uint8Array(new ArrayBuffer(bytes.length + 1), 1, bytes.length);
    data.set(bytes);
  }
  return { name: `w-${ggmlTypeName(type)}`, type, numRows, numCols, data };
}

function dequantized(w: WeightTensor): Float32Array {
  const out = new Float32Array(w.numRows * w.numCols);
  codecFor(w.type)!.dequantize(w.data, 0, out.length, out);
  return out;
}

const relative = (rtol: number, atol = 0) => (expected: Output) => (i: number) => rtol * Math.abs(expected[i]!) + atol;
const exact = () => () => 0;

// matmul: |error| ≤ rtol · Σ_c |w[r,c] · x[t,c]|, i.e. relative to the size of the terms summed
const MATMUL_RTOL: ReadonlyMap<GgmlType, number> = new Map([
  [GgmlType.F32, 2e-6],
  [GgmlType.F16, 2e-6],
  [GgmlType.BF16, 2e-6],
  [GgmlType.Q8_0, 2e-6],
  [GgmlType.Q4_0, 2e-6],
]);

/** an embedding case: the rows `ids` of `table` (dequantization is exact); asUploadedForMatmul reads the table uploadWeight made for a matmul */
function addEmbeddingCase(table: WeightTensor, ids: Int32Array, note = '', asUploadedForMatmul = false): void {
  cases.push({
    op: 'embedding',
    name: `${ggmlTypeName(table.type)} ${table.numRows}x${table.numCols}${asUploadedForMatmul ? ' as uploaded for matmul' : ''}, ${ids.length} ids${note}`,
    run(b) {
      const out = new Float32Array(ids.length * table.numCols).fill(NaN);
      b.embedding(out, asUploadedForMatmul ? b.uploadWeight(table, 'matmul') : table, ids);
      return out;
    },
    tolerance: exact,
  });
}

/** a matmul case; with glu, a matmulSwiglu or matmulGeglu case: x is [numTokens, 2 · numCols], gate then up per row */
function addMatmulCase(w: WeightTensor, numTokens: number, rtol: number, x = gaussian(numTokens * w.numCols), note = '', glu?: 'swiglu' | 'geglu'): void {
  // the activations the weights multiply: x, or swiglu / geglu(gate, up) row by row
  let h = x;
  if (glu) {
    const n = w.numCols;
    h = new Float32Array(numTokens * n);
    const act = glu === 'swiglu' ? reference.swiglu.bind(reference) : geglu;
    for (let t = 0; t < numTokens; t++) act(h.subarray(t * n, (t + 1) * n), x.subarray(2 * t * n, (2 * t + 1) * n), x.subarray((2 * t + 1) * n, (2 * t + 2) * n), n);
  }
  const isQuantized = w.type === GgmlType.Q8_0 || w.type === GgmlType.Q4_0;
  const isKQuant = w.type === GgmlType.Q4_K || w.type === GgmlType.Q5_K || w.type === GgmlType.Q6_K;
  const isAmxF16 = w.type === GgmlType.F16 && w.numRows % 32 === 0 && w.numCols % 16 === 0;
  const wf = dequantized(w);
  const magnitude = new Float64Array(numTokens * w.numRows); // [numTokens, numRows]
  for (let t = 0; t < numTokens; t++) {
    for (let r = 0; r < w.numRows; r++) {
      let m = 0;
      for (let c = 0; c < w.numCols; c++) m += Math.abs(wf[r * w.numCols + c]! * h[t * w.numCols + c]!);
      magnitude[t * w.numRows + r] = m;
    }
  }
  cases.push({
    op: glu === 'swiglu' ? 'matmulSwiglu' : glu === 'geglu' ? 'matmulGeglu' : 'matmul',
    name: `${ggmlTypeName(w.type)} ${w.numRows}x${w.numCols} × ${numTokens} tokens${note}`,
    run(b) {
      const out = new Float32Array(numTokens * w.numRows).fill(NaN);
      if (glu === 'swiglu') b.matmulSwiglu(out, w, x.slice(), numTokens);
      else if (glu === 'geglu') b.matmulGeglu(out, w, x.slice(), numTokens);
      else b.matmul(out, w, x.slice(), numTokens);
      return out;
    },
    tolerance: () => (i) => rtol * (Number.isNaN(magnitude[i]!) ? 0 : magnitude[i]!) + 1e-30, // (a NaN weight: the output must be NaN too)
    isExactOn: isAmxF16 ? everywhere : isQuantized ? isBlockExact : w.type === GgmlType.Q4_K ? isPackedQ4KExact : isKQuant ? isKQuantExact : undefined,
  });
}

for (const type of MATMUL_RTOL.keys()) {
  const rtol = MATMUL_RTOL.get(type)!;
  // 301 = 4·75 + 1 rows, 8 blocks; 67 = 4·16 + 3 rows, 3 blocks (an odd block pair)
  for (const [numRows, numCols] of [[301, 256], [67, 96]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 3, 17]) addMatmulCase(w, numTokens, rtol);
  }
  addMatmulCase(weight(type, 130, 1024), 2, rtol);
  addMatmulCase(weight(type, 9, 32, true), 5, rtol, undefined, ', misaligned bytes');
}
// AMX tiles take 16 tokens at a time (12+ tokens): 1 partial tile, 2 tiles plus a partial one, below the threshold; an odd block count, a partial row group
for (const type of [GgmlType.Q8_0, GgmlType.Q4_0]) {
  const w = weight(type, 83, 160);
  for (const numTokens of [7, 13, 33, 48]) addMatmulCase(w, numTokens, MATMUL_RTOL.get(type)!);
  addMatmulCase(weight(type, 32, 64), 16, MATMUL_RTOL.get(type)!);
  // one token over 65 row groups: one task on 3 threads (guided tasks have at least 2^17 weights),
  // four of 17 groups on 1 thread, each read as 2 streams plus one
  addMatmulCase(weight(type, 1037, 64), 1, MATMUL_RTOL.get(type)!);
  // one token over 305 row groups: guided tasks of 128, 128 and 48 groups and a partial one (3
  // threads), or four of 77 (1 thread), read in pieces of 8 groups (2 streams at most 4 groups
  // apart), then the rest, then a partial group
  addMatmulCase(weight(type, 4871, 64), 1, MATMUL_RTOL.get(type)!);
}
// more tokens than AVX-512's L2-sized block of Q8_0 / Q4_0 activations (384 KiB: 40 tokens of
// 8192 columns), so two blocks of tokens, the second ending in a partial tile; a partial row group
for (const type of [GgmlType.Q8_0, GgmlType.Q4_0]) addMatmulCase(weight(type, 37, 8192), 45, MATMUL_RTOL.get(type)!);
// AVX2's packed kernels: groups of 8 rows (one short of a group, one past, a partial third), 4 tokens
// at a time (1; 8 and 32 as a decode step of many sequences; 6 for a partial tile), widths that are
// not a multiple of 256 (9 and 65 blocks)
for (const type of [GgmlType.Q8_0, GgmlType.Q4_0]) {
  for (const [numRows, numCols] of [[7, 288], [9, 2080], [23, 32]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 6, 8, 32]) addMatmulCase(w, numTokens, MATMUL_RTOL.get(type)!);
  }
}
// the largest integer products: Q8_0 quants -128 and 127, Q4_0 nibbles 15 and 0, × activations ±127
// (x = ±1 gives q = ±127), so that an int16 lane that saturated would show
{
  const numRows = 11;
  const numCols = 96;
  const x = new Float32Array(3 * numCols);
  for (let c = 0; c < numCols; c++) {
    x[c] = 1;
    x[numCols + c] = -1;
    x[2 * numCols + c] = c % 2 === 0 ? 1 : -1;
  }
  for (const type of [GgmlType.Q8_0, GgmlType.Q4_0]) {
    const blockBytes = type === GgmlType.Q8_0 ? 34 : 18;
    const data = new Uint8Array((numRows * numCols * blockBytes) / 32);
    for (let block = 0; block < data.length / blockBytes; block++) {
      const o = block * blockBytes;
      const isEvenRow = Math.floor(block / (numCols / 32)) % 2 === 0;
      const d = f32ToF16(0.01 * (1 + (block % 5)));
      data[o] = d & 0xff;
      data[o + 1] = d >> 8;
      data.fill(type === GgmlType.Q8_0 ? (isEvenRow ? 0x80 : 0x7f) : isEvenRow ? 0xff : 0x00, o + 2, o + blockBytes);
    }
    addMatmulCase({ name: `w-${ggmlTypeName(type)}`, type, numRows, numCols, data }, 3, 2e-6, x, ', extreme quants');
  }
}
// more tokens than the native float kernels' L2-sized block of tokens (32 of 8192 f32 columns; 256 of a 1024-column chunk)
addMatmulCase(weight(GgmlType.F16, 32, 8192), 40, MATMUL_RTOL.get(GgmlType.F16)!);
addMatmulCase(weight(GgmlType.F32, 5, 2048), 300, MATMUL_RTOL.get(GgmlType.F32)!);
// widths that are not a multiple of any vector width (float types have no blocks)
for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.BF16]) {
  const w = weight(type, 45, 77);
  for (const numTokens of [1, 3, 17]) addMatmulCase(w, numTokens, MATMUL_RTOL.get(type)!);
}
// F16 shapes llama.cpp's AMX buffer takes (rows % 32, cols % 16): f32 activations, 16-lane order; 1040 columns
// is past the native backend's column-chunk size
for (const [numRows, numCols] of [[64, 256], [96, 1040]] as const) {
  const w = weight(GgmlType.F16, numRows, numCols);
  for (const numTokens of [1, 3, 17]) addMatmulCase(w, numTokens, MATMUL_RTOL.get(GgmlType.F16)!, undefined, ' (AMX-shaped)');
}
// matmulSwiglu: gate and up pass through swiglu row by row on their way into the activations (widths
// of 16-element chunks, or not: 77 has a tail for libm's silu; one token, a few, the AMX kernels' 16+)
for (const type of MATMUL_RTOL.keys()) {
  for (const [numRows, numCols] of [[67, 96], [45, type === GgmlType.Q8_0 || type === GgmlType.Q4_0 ? 160 : 77]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 3, 33]) addMatmulCase(w, numTokens, MATMUL_RTOL.get(type)!, gaussian(2 * numTokens * numCols, 2), ' (swiglu)', 'swiglu');
  }
}
// matmulGeglu (Gemma): gelu(gate) from ggml's f16 table, gates past ±10 (0 and the identity), exactly ±10
for (const type of MATMUL_RTOL.keys()) {
  for (const [numRows, numCols] of [[67, 96], [45, type === GgmlType.Q8_0 || type === GgmlType.Q4_0 ? 160 : 77]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 3, 33]) {
      const x = gaussian(2 * numTokens * numCols, 4);
      for (const [i, value] of [[0, -10], [1, 10], [2, -12.5], [3, 11], [5, 9.999]] as const) x[i] = value;
      addMatmulCase(w, numTokens, MATMUL_RTOL.get(type)!, x, ' (geglu)', 'geglu');
    }
  }
}
// Q8_0 activations: amax = 127 gives id = 1, so every x.5 is a tie that must round half to even
{
  const numCols = 64;
  const x = new Float32Array(numCols);
  for (let c = 0; c < numCols; c++) x[c] = c % 32 === 0 ? 127 : ((c * 7) % 50) - 25 + 0.5;
  for (const type of [GgmlType.Q8_0, GgmlType.Q4_0]) addMatmulCase(weight(type, 21, numCols), 1, 2e-6, x, ', rounding ties');
}

// embedding: dequantization is exact
for (const type of MATMUL_RTOL.keys()) {
  for (const numCols of type === GgmlType.Q8_0 || type === GgmlType.Q4_0 ? [256, 96] : [256, 77]) {
    const table = weight(type, 50, numCols);
    const ids = Int32Array.from([0, 49, 7, 7, 23, 1, 48, 30, 12, 5, 40, 41, 2, 3, 44, 19, 27]);
    for (const numIds of [1, 3, 17]) addEmbeddingCase(table, ids.slice(0, numIds));
  }
}

// rmsNorm, in place and not
for (const dim of [4096, 77]) {
  for (const numTokens of [1, 3, 17]) {
    const x = gaussian(numTokens * dim, 3);
    const w = gaussian(dim);
    for (const isInPlace of [false, true]) {
      cases.push({
        op: 'rmsNorm',
        name: `dim ${dim} × ${numTokens} tokens${isInPlace ? ', in place' : ''}`,
        run(b) {
          const xs = x.slice();
          const out = isInPlace ? xs : new Float32Array(xs.length).fill(NaN);
          b.rmsNorm(out, xs, w, numTokens, 1e-5);
          return out;
        },
        tolerance: relative(1e-6, 1e-30),
        isExactOn: everywhere,
      });
    }
  }
}

// rmsNorm per head (q/k norm, Qwen3): rows of headDim values, numTokens · numHeads of them
for (const [headDim, numRows] of [[128, 17 * 16], [64, 3 * 2]] as const) {
  const x = gaussian(numRows * headDim, 3);
  const w = gaussian(headDim);
  cases.push({
    op: 'rmsNorm',
    name: `per head: dim ${headDim} × ${numRows} rows, in place`,
    run(b) {
      const xs = x.slice();
      b.rmsNorm(xs, xs, w, numRows, 1e-6);
      return xs;
    },
    tolerance: relative(1e-6, 1e-30),
    isExactOn: everywhere,
  });
}

// addRmsNorm: the updated residual stream and the norm, one after the other in the output
for (const dim of [4096, 77]) {
  for (const numTokens of [1, 3, 17]) {
    const x = gaussian(numTokens * dim, 3);
    const residual = gaussian(numTokens * dim, 2);
    const w = gaussian(dim);
    cases.push({
      op: 'addRmsNorm',
      name: `dim ${dim} × ${numTokens} tokens`,
      run(b) {
        const xs = x.slice();
        const out = new Float32Array(xs.length).fill(NaN);
        b.addRmsNorm(out, xs, residual.slice(), w, numTokens, 1e-5);
        const both = new Float32Array(2 * xs.length);
        both.set(xs);
        both.set(out, xs.length);
        return both;
      },
      tolerance: relative(1e-6, 1e-30),
      isExactOn: everywhere,
    });
  }
}

// rope
for (const mode of ['norm', 'neox'] as const) {
  for (const [numTokens, numHeads, headDim, numRotaryDims, hasFactors] of [
    [1, 4, 64, 64, false],
    [3, 4, 64, 32, true],
    [17, 32, 64, 64, true],
    [17, 3, 24, 24, false],
  ] as const) {
    const x = gaussian(numTokens * numHeads * headDim);
    const positions = randomInts(numTokens, 4096);
    const params: RopeParams = {
      mode,
      numRotaryDims,
      freqBase: 500000,
      freqScale: hasFactors ? 0.25 : 1,
      freqFactors: hasFactors ? Float32Array.from({ length: numRotaryDims / 2 }, (_, i) => 1 + (i % 5)) : undefined,
    };
    cases.push({
      op: 'rope',
      name: `${mode} ${numTokens}x${numHeads}x${headDim}, ${numRotaryDims} rotary dims${hasFactors ? ', freq factors' : ''}`,
      run(b) {
        const xs = x.slice();
        b.rope(xs, numTokens, numHeads, headDim, positions, params);
        return xs;
      },
      tolerance: () => () => 2e-7,
    });
  }
}

// rope as Phi-3's LongRoPE: partial rotary (48 of 64 dims), per-pair factors and an attention factor on cos and sin
for (const mode of ['norm', 'neox'] as const) {
  const [numTokens, numHeads, headDim, numRotaryDims] = [9, 3, 64, 48];
  const x = gaussian(numTokens * numHeads * headDim);
  const positions = randomInts(numTokens, 4096);
  const params: RopeParams = {
    mode,
    numRotaryDims,
    freqBase: 10000,
    freqScale: 1,
    freqFactors: Float32Array.from({ length: numRotaryDims / 2 }, (_, i) => 1 + 0.7 * i),
    attnFactor: 1.1180339887,
  };
  cases.push({
    op: 'rope',
    name: `${mode} ${numTokens}x${numHeads}x${headDim}, ${numRotaryDims} rotary dims, freq factors, attention factor`,
    run(b) {
      const xs = x.slice();
      b.rope(xs, numTokens, numHeads, headDim, positions, params);
      return xs;
    },
    tolerance: () => () => 2e-7,
  });
}

// rope calls in a row whose positions or parameters differ only in content (a backend that keeps
// the last call's cos/sin must notice)
{
  const [numTokens, numHeads, headDim] = [5, 2, 32];
  const x = gaussian(numTokens * numHeads * headDim);
  const positionsA = randomInts(numTokens, 4096);
  const positionsB = positionsA.map((p, i) => (i === 3 ? p + 1 : p));
  const factors = Float32Array.from({ length: headDim / 2 }, (_, i) => 1 + (i % 3));
  const base: RopeParams = { mode: 'norm', numRotaryDims: headDim, freqBase: 10000, freqScale: 1, freqFactors: factors };
  const calls: [Int32Array, RopeParams][] = [
    [positionsA, base],
    [positionsB, base],
    [positionsB, { ...base, freqFactors: factors.map((f, i) => (i === 7 ? f * 2 : f)) }],
    [positionsB, { ...base, freqBase: 500000 }],
    [positionsB, { ...base, freqScale: 0.5 }],
    [positionsB, { ...base, freqFactors: undefined }],
    [positionsB, { ...base, mode: 'neox' }],
    [positionsB, { ...base, mode: 'neox', attnFactor: 1.25 }],
  ];
  cases.push({
    op: 'rope',
    name: 'calls in a row with other positions, factors, base, scale, mode, attention factor',
    run(b) {
      const out = new Float32Array(calls.length * x.length);
      calls.forEach(([positions, params], i) => {
        const xs = x.slice();
        b.rope(xs, numTokens, numHeads, headDim, positions, params);
        out.set(xs, i * x.length);
      });
      return out;
    },
    tolerance: () => () => 2e-7,
  });
}

type KvArray = HostKvView['k'];

/** A KV cache of `n` random values in `dtype` (f16 as bits; the others encoded as storeKv does). */
function kvCache(dtype: KvCacheType, n: number, scale = 1): KvArray {
  if (dtype === 'f16') return f16Random(n, scale);
  if (dtype === 'f32') return gaussian(n, scale);
  const layer = new HostKvCache({ numLayers: 1, kvDim: n, numBlocks: 1, blockSize: 1, dtype }).layer(0);
  encodeKv(layer, layer.k, 0, gaussian(n, scale), 0, n);
  return layer.k;
}

function kvView(dtype: KvCacheType, k: KvArray, v: KvArray, blockTable: Int32Array, blockSize: number): HostKvView {
  return { dtype, k, v, blockTable, blockSize } as HostKvView;
}

// storeKv: f16/bf16/fp8 rounding and q8_0 blocks are exact; K and V land in the slots given (the rest of the cache is untouched)
for (const dtype of KV_CACHE_TYPES) {
  for (const kvDim of dtype === 'q8_0' ? [128, 96] : [128, 24]) {
    for (const numTokens of [1, 3, 17]) {
      const numSlots = 64;
      const k = gaussian(numTokens * kvDim, 4);
      const v = gaussian(numTokens * kvDim, 4);
      const slotIds = shuffled(numSlots).slice(0, numTokens);
      const kCache = kvCache(dtype, numSlots * kvDim);
      const vCache = kvCache(dtype, numSlots * kvDim);
      cases.push({
        op: 'storeKv',
        name: `${dtype} kvDim ${kvDim} × ${numTokens} tokens`,
        run(b) {
          const view = kvView(dtype, kCache.slice(), vCache.slice(), new Int32Array(0), 16);
          b.storeKv(view, k, v, slotIds, numTokens);
          const out = new (view.k.constructor as new (n: number) => KvArray)(2 * view.k.length);
          out.set(view.k);
          out.set(view.v, view.k.length);
          return out;
        },
        tolerance: exact,
      });
    }
  }
}

// attention: paged f16 / f32 KV with a shuffled block table, causal, GQA
{
  const blockSize = 16;
  const numPhysicalBlocks = 48;
  const numSlots = numPhysicalBlocks * blockSize;
  const blockTable = shuffled(numPhysicalBlocks).slice(0, 40); // 640 positions
  const tokenSets: ReadonlyArray<readonly [string, Int32Array]> = [
    ['1 token at position 600', Int32Array.from([600])],
    ['3 tokens at 0..2', Int32Array.from([0, 1, 2])],
    ['17 tokens at 583..599', Int32Array.from({ length: 17 }, (_, i) => 583 + i)],
    ['3 tokens at 10, 300, 599', Int32Array.from([10, 300, 599])],
    // the tiled kernel (4+ tokens): 16-token tiles plus a tail, causal from 0; scattered positions
    ['35 tokens at 0..34', Int32Array.from({ length: 35 }, (_, i) => i)],
    ['5 tokens at 599, 7, 300, 16, 15', Int32Array.from([599, 7, 300, 16, 15])],
    // more tokens than one task of the AMX kernel takes (64), keys across its 256-key chunks
    ['80 tokens at 200..279', Int32Array.from({ length: 80 }, (_, i) => 200 + i)],
  ];
  const shapes: Array<readonly [number, number, number, KvCacheType]> = []; // [group, headDim, tokenSet, dtype]
  for (const group of [1, 4, 8]) for (let s = 0; s < tokenSets.length; s++) shapes.push([group, 64, s, 'f16']);
  shapes.push([4, 24, 2, 'f16'], [4, 8, 2, 'f16'], [8, 128, 0, 'f16'], [4, 64, 3, 'f16'], [1, 24, 3, 'f32']);
  shapes.push([1, 64, 2, 'f32'], [4, 64, 0, 'f32'], [8, 24, 2, 'f32'], [4, 64, 1, 'f32']);
  for (const set of [4, 5]) shapes.push([4, 64, set, 'f16'], [8, 128, set, 'f32'], [1, 32, set, 'f16'], [4, 24, set, 'f32'], [32, 64, set, 'f16']);
  // the AMX tiles' head-dim paths: more than one pass of 4 output tiles, padding to 32 dims, one to three tiles
  for (const set of [2, 4, 5, 6]) shapes.push([8, 128, set, 'f16'], [2, 80, set, 'f16'], [4, 96, set, 'f16'], [1, 16, set, 'f16']);
  shapes.push([4, 64, 6, 'f16'], [1, 64, 6, 'f32']);
  // the widened types: decode, several tokens, the tiled kernel; headDim 80 puts q8_0 blocks across heads
  for (const dtype of ['bf16', 'fp8', 'q8_0'] as const) {
    for (const set of [0, 2, 3, 4, 5, 6]) shapes.push([4, 64, set, dtype]);
    shapes.push([1, 80, 2, dtype], [8, 128, 0, dtype], [2, 80, 4, dtype], [1, 32, 0, dtype], [2, 256, 2, dtype]); // 256: Gemma's, the widest kernel
  }
  for (const [group, headDim, set, dtype] of shapes) {
    const numKvHeads = 2;
    const shape: AttentionShape = { numHeads: numKvHeads * group, numKvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
    const kvDim = numKvHeads * headDim;
    const [label, positions] = tokenSets[set]!;
    const numTokens = positions.length;
    const q = gaussian(numTokens * shape.numHeads * headDim, 1.5);
    const view = kvView(dtype, kvCache(dtype, numSlots * kvDim, 1.5), kvCache(dtype, numSlots * kvDim), blockTable, blockSize);
    cases.push({
      op: 'attention',
      name: `${dtype} KV, group ${group}, headDim ${headDim}, ${label}`,
      run(b) {
        const out = new Float32Array(q.length).fill(NaN);
        b.attention(out, q, view, view.blockTable, positions, numTokens, shape);
        return out;
      },
      // V is ~N(0, 1): errors are measured against its scale, not against each output
      tolerance: () => () => 1e-5,
    });
  }
}

// attentionBatch: one query token from each of several sequences, each with its own block table
// (stride 40, rows padded), short and long (split-K) contexts; each token must match what
// `attention` gives it alone, bit for bit
{
  const blockSize = 16;
  const numPhysicalBlocks = 64;
  const numSlots = numPhysicalBlocks * blockSize;
  const stride = 40;
  const positions = Int32Array.from([20, 600, 0, 150, 75, 599, 31]);
  const numTokens = positions.length;
  const tables = new Int32Array(numTokens * stride).fill(-1); // entries past a sequence's blocks are never read
  for (let t = 0; t < numTokens; t++) tables.set(shuffled(numPhysicalBlocks).slice(0, Math.floor(positions[t]! / blockSize) + 1), t * stride);
  // the last two: a decode step of Gemma's local layers (sliding window 100, soft-cap 5): positions
  // before, inside and far past the window, split-K pieces starting inside it
  for (const [group, headDim, dtype, window, softcap] of [
    [4, 64, 'f16', undefined, undefined],
    [1, 24, 'f32', undefined, undefined],
    [8, 128, 'f16', undefined, undefined],
    [2, 64, 'f16', 100, 5],
    [1, 128, 'f32', 100, undefined],
    [4, 64, 'bf16', undefined, undefined],
    [4, 64, 'fp8', undefined, undefined],
    [2, 80, 'q8_0', undefined, undefined],
    [2, 64, 'q8_0', 100, 5],
  ] as const) {
    const numKvHeads = 2;
    const scale = softcap ? 1 : 1 / Math.sqrt(headDim);
    const shape: AttentionShape = { numHeads: numKvHeads * group, numKvHeads, headDim, scale, window, softcap };
    const kvDim = numKvHeads * headDim;
    const qDim = shape.numHeads * headDim;
    const q = gaussian(numTokens * qDim, 1.5);
    const view = kvView(dtype, kvCache(dtype, numSlots * kvDim, 1.5), kvCache(dtype, numSlots * kvDim), new Int32Array(0), blockSize);
    cases.push({
      op: 'attentionBatch',
      name: `${window ? `window ${window}, ` : ''}${softcap ? `softcap ${softcap}, ` : ''}${dtype} KV, group ${group}, headDim ${headDim}, ${numTokens} sequences at ${Array.from(positions).join(', ')}`,
      run(b) {
        const out = new Float32Array(q.length).fill(NaN);
        b.attentionBatch(out, q, view, tables, stride, positions, numTokens, shape);
        for (let t = 0; t < numTokens; t++) {
          const alone = new Float32Array(qDim);
          const table = tables.subarray(t * stride, (t + 1) * stride);
          b.attention(alone, q.subarray(t * qDim, (t + 1) * qDim), view, table, positions.subarray(t, t + 1), 1, shape);
          for (let i = 0; i < qDim; i++) {
            if (!Object.is(alone[i], out[t * qDim + i])) throw new Error(`${b.name}: token ${t} differs from attention() on it alone`);
          }
        }
        return out;
      },
      tolerance: () => () => 1e-5,
    });
  }
}

// argmaxRows: random rows (one long enough for several threads), NaN, ties across vector lanes and
// into the tail, -Infinity only, +Infinity, a row shorter than one vector
{
  const rowLength = 1037; // 64 vectors of 16 and a tail of 13
  const special: number[][] = [
    Array.from({ length: rowLength }, (_, i) => (i % 7 === 0 ? NaN : Math.sin(i))),
    Array.from({ length: rowLength }, (_, i) => (i === 40 || i === 17 || i === 1030 ? 9 : 0)), // tie: lanes 8 and 1, and the tail
    Array.from({ length: rowLength }, (_, i) => (i === 1036 ? 5 : -1)), // the last element
    Array.from({ length: rowLength }, () => -Infinity),
    Array.from({ length: rowLength }, (_, i) => (i % 3 ? NaN : -Infinity)),
    Array.from({ length: rowLength }, (_, i) => (i === 500 ? Infinity : i)),
  ];
  for (const [label, numRows, x] of [
    ['6 special rows of 1037', special.length, Float32Array.from(special.flat())],
    ['40 random rows of 1037', 40, gaussian(40 * rowLength)],
  ] as const) {
    cases.push({
      op: 'argmaxRows',
      name: label,
      run(b) {
        const out = new Int32Array(numRows).fill(-1);
        b.argmaxRows(out, x, numRows, rowLength);
        return Float32Array.from(out);
      },
      tolerance: exact,
      isExactOn: everywhere,
    });
  }
  // one row of a vocabulary's length at a time (a decode step's logits: split across the threads)
  const vocab = 128256;
  const long = gaussian(vocab);
  const longRows: Float32Array[] = [
    long,
    long.map((v, i) => (i === 20000 || i === 90000 ? 99 : v)), // tie across chunks: the first wins
    long.map((v, i) => (i === vocab - 1 ? 99 : i < 70000 ? NaN : v)), // NaN in the first chunks, the largest last
    long.map(() => -Infinity),
    long.map((_, i) => (i % 2 ? NaN : -Infinity)),
  ];
  cases.push({
    op: 'argmaxRows',
    name: `5 single rows of ${vocab}`,
    run(b) {
      const out = new Int32Array(longRows.length).fill(-1);
      longRows.forEach((x, r) => b.argmaxRows(out.subarray(r, r + 1), x, 1, vocab));
      return Float32Array.from(out);
    },
    tolerance: exact,
    isExactOn: everywhere,
  });
  cases.push({
    op: 'argmaxRows',
    name: '3 rows of 5',
    run(b) {
      const out = new Int32Array(3).fill(-1);
      b.argmaxRows(out, Float32Array.from([1, 3, 3, NaN, 2, NaN, NaN, NaN, NaN, NaN, -Infinity, -2, -1, -1, -3]), 3, 5);
      expect(Array.from(out)).toEqual([1, 0, 2]);
      return Float32Array.from(out);
    },
    tolerance: exact,
    isExactOn: everywhere,
  });
}

// add, in place and not; 100000 elements run on several threads (swiglu is checked inside matmulSwiglu)
for (const n of [77, 100_000]) {
  const gate = gaussian(n, 3);
  const up = gaussian(n);
  for (const isInPlace of [false, true]) {
    cases.push({
      op: 'add',
      name: `${n} elements${isInPlace ? ', in place' : ''}`,
      run(b) {
        const a = gate.slice();
        const out = isInPlace ? a : new Float32Array(n).fill(NaN);
        b.add(out, a, up, n);
        return out;
      },
      tolerance: exact,
    });
  }
}

// addBias (q/k/v biases, Qwen2): f32 adds, exact; 600 tokens of 896 run on several threads
for (const [numTokens, dim] of [[1, 77], [3, 128], [600, 896]] as const) {
  const x = gaussian(numTokens * dim, 3);
  const bias = gaussian(dim);
  cases.push({
    op: 'addBias',
    name: `${numTokens} × ${dim}`,
    run(b) {
      const xs = x.slice();
      b.addBias(xs, bias, numTokens);
      return xs;
    },
    tolerance: exact,
    isExactOn: everywhere,
  });
}

// scale (Gemma's embeddings × √dim, q × its attention scale): one f32 product each, exact
for (const n of [77, 100_000]) {
  const x = gaussian(n, 3);
  cases.push({
    op: 'scale',
    name: `${n} elements × √2304`,
    run(b) {
      const xs = x.slice();
      b.scale(xs, n, Math.sqrt(2304.5));
      return xs;
    },
    tolerance: exact,
    isExactOn: everywhere,
  });
}

// softcap (Gemma 2's final logits): cap · tanh(x / cap) as three f32 steps; tanhf and Math.tanh may
// differ by an ulp; values from 0 to far past the cap, both signs
for (const [n, cap] of [[77, 30], [100_000, 50]] as const) {
  const x = gaussian(n, 40);
  x[0] = 0;
  x[1] = 1e4;
  x[2] = -1e4;
  cases.push({
    op: 'softcap',
    name: `${n} elements, cap ${cap}`,
    run(b) {
      const xs = x.slice();
      b.softcap(xs, n, cap);
      return xs;
    },
    tolerance: () => () => cap * 2 ** -22, // a few ulps of cap
  });
}

// attention with a sliding window and/or soft-capped scores (Gemma 2/3 local layers, Gemma 2's
// attention soft-cap; scale 1 with q pre-scaled, as Gemma runs it): the window narrows each token's
// keys (position - window, position], with tokens before, inside and past the window, in the tiled
// kernels' token counts (4+) and in split-K decode (a token at 600)
{
  const blockSize = 16;
  const numPhysicalBlocks = 48;
  const numSlots = numPhysicalBlocks * blockSize;
  const blockTable = shuffled(numPhysicalBlocks).slice(0, 40);
  const positionSets: ReadonlyArray<readonly [string, Int32Array]> = [
    ['1 token at 600', Int32Array.from([600])],
    ['35 tokens at 0..34', Int32Array.from({ length: 35 }, (_, i) => i)],
    ['5 tokens at 599, 7, 300, 16, 15', Int32Array.from([599, 7, 300, 16, 15])],
  ];
  const variants: ReadonlyArray<readonly [string, number | undefined, number | undefined]> = [
    ['window 16', 16, undefined],
    ['window 5', 5, undefined],
    ['softcap 50', undefined, 50],
    ['window 16, softcap 5', 16, 5],
  ];
  for (const [variant, window, softcap] of variants) {
    for (const [label, positions] of positionSets) {
      for (const [group, headDim, dtype] of [[2, 64, 'f16'], [1, 24, 'f32'], [4, 128, 'f32']] as const) {
        const numKvHeads = 2;
        const shape: AttentionShape = { numHeads: numKvHeads * group, numKvHeads, headDim, scale: softcap ? 1 : 1 / Math.sqrt(headDim), window, softcap };
        const kvDim = numKvHeads * headDim;
        const numTokens = positions.length;
        const q = gaussian(numTokens * shape.numHeads * headDim, softcap ? 4 / Math.sqrt(headDim) : 1.5);
        const view = kvView(dtype, kvCache(dtype, numSlots * kvDim, 1.5), kvCache(dtype, numSlots * kvDim), blockTable, blockSize);
        cases.push({
          op: 'attention',
          name: `${variant}, ${dtype} KV, group ${group}, headDim ${headDim}, ${label}`,
          run(b) {
            const out = new Float32Array(q.length).fill(NaN);
            b.attention(out, q, view, view.blockTable, positions, numTokens, shape);
            return out;
          },
          tolerance: () => () => 1e-5,
        });
      }
    }
  }
}

// k-quant weights × Q8_K activations (when the k-quant codecs load): row counts that are not a
// multiple of 16 or of the thread count, 1 / 3 / 5 / 17 / 33 tokens (token tiles of 4 plus tails),
// 1 to 32 super-blocks per row, an all-zero activation super-block (d = 0), misaligned bytes
try {
  await import('../quant/index.js');
} catch {
  // k-quants unavailable: their cases are skipped
}
const K_QUANT_RTOL = 2e-6;
for (const type of [GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]) {
  if (!codecFor(type)) continue;
  for (const [numRows, numCols] of [[301, 256], [67, 768]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 3, 17]) addMatmulCase(w, numTokens, K_QUANT_RTOL);
  }
  addMatmulCase(weight(type, 130, 1024), 5, K_QUANT_RTOL);
  const x = gaussian(2 * 512);
  x.fill(0, 512, 768); // token 1's first super-block
  addMatmulCase(weight(type, 33, 512), 2, K_QUANT_RTOL, x, ', a zero activation block');
  addMatmulCase(weight(type, 9, 256, true), 4, K_QUANT_RTOL, undefined, ', misaligned bytes');
  // 33 tokens of 8192 columns: more than the native kernels' L2-sized block of tokens (28 here)
  addMatmulCase(weight(type, 12, 8192), 33, K_QUANT_RTOL);
  addMatmulCase(weight(type, 37, 512), 17, K_QUANT_RTOL, gaussian(2 * 17 * 512, 2), ' (swiglu)', 'swiglu');
  addMatmulCase(weight(type, 37, 512), 17, K_QUANT_RTOL, gaussian(2 * 17 * 512, 4), ' (geglu)', 'geglu');
  // embedding (a packed table on the native backends that pack the type): dequantization is exact
  const table = weight(type, 37, 512);
  addEmbeddingCase(table, Int32Array.from([0, 36, 17, 16, 15, 31, 32]));
  // one token over 40 row groups: packed GEMV tasks read as 4 streams
  addMatmulCase(weight(type, 637, 256), 1, K_QUANT_RTOL);
}
// AVX2's packed Q4_K: groups of 8 rows (one short of a group, one past, a partial third), 1 to 9
// super-blocks per row, every batch size from 1 to 17 (token tiles of 4 and each tail)
if (codecFor(GgmlType.Q4_K)) {
  for (const [numRows, numCols] of [[7, 2304], [9, 256]] as const) {
    const w = weight(GgmlType.Q4_K, numRows, numCols);
    for (const numTokens of [1, 4, 6]) addMatmulCase(w, numTokens, K_QUANT_RTOL);
  }
  const w = weight(GgmlType.Q4_K, 23, 768);
  for (let numTokens = 1; numTokens <= 17; numTokens++) addMatmulCase(w, numTokens, K_QUANT_RTOL);
  // the largest integer sums: nibbles 15, 6-bit scales and mins 63, × activations ±127 (x = ±1
  // gives q = ±127), so that an int16 lane that saturated (16 products of 15 · 127 each) would show
  const numCols = 512;
  const numRows = 11;
  const data = new Uint8Array((numRows * numCols * 144) / 256).fill(0xff);
  for (let block = 0; block < data.length / 144; block++) {
    const d = f32ToF16(0.001 * (1 + (block % 5)));
    const dmin = f32ToF16(0.002 * (1 + (block % 3)));
    data.set([d & 0xff, d >> 8, dmin & 0xff, dmin >> 8], block * 144);
  }
  const x = new Float32Array(3 * numCols);
  for (let c = 0; c < numCols; c++) {
    x[c] = 1;
    x[numCols + c] = -1;
    x[2 * numCols + c] = c % 2 === 0 ? 1 : -1;
  }
  addMatmulCase({ name: 'w-Q4_K', type: GgmlType.Q4_K, numRows, numCols, data }, 3, K_QUANT_RTOL, x, ', extreme quants');
}

// MXFP4 / NVFP4 weights × Q8_0 activations (llama.cpp's vec_dot_<type>_q8_0): row counts past the
// tiles, odd block counts (67x192: 6 MXFP4 blocks, 3 NVFP4 blocks), 1 / 3 / 17 / 33 tokens, fewer
// rows than one packed group (AVX2: 8, AVX-512: 16) and one past it with token tails of the 4- and
// 8-token tiles,
// misaligned bytes, swiglu and geglu activations, every code at ±12 against ±127 activations (the
// largest int16 pair sums), Q8_0 rounding ties, scales at the ends of their ranges, and embedding
// (the reference backend's: no native embedding for these)
for (const type of [GgmlType.MXFP4, GgmlType.NVFP4]) {
  const rtol = 2e-6;
  for (const [numRows, numCols] of [[301, 256], [67, 192], [130, 1024]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 3, 17, 33]) addMatmulCase(w, numTokens, rtol);
  }
  for (const numRows of [5, 9, 15, 17]) {
    const w = weight(type, numRows, 128);
    for (const numTokens of [1, 2, 4, 6, 7, 11]) addMatmulCase(w, numTokens, rtol);
  }
  addMatmulCase(weight(type, 9, 128, true), 5, rtol, undefined, ', misaligned bytes');
  for (const glu of ['swiglu', 'geglu'] as const) {
    const w = weight(type, 45, 192);
    for (const numTokens of [1, 3, 33]) addMatmulCase(w, numTokens, rtol, gaussian(2 * numTokens * 192, 2), ` (${glu})`, glu);
  }
  {
    const numRows = 11;
    const numCols = 128;
    const x = new Float32Array(3 * numCols);
    for (let c = 0; c < numCols; c++) {
      x[c] = 1;
      x[numCols + c] = -1;
      x[2 * numCols + c] = c % 2 === 0 ? 1 : -1;
    }
    const blockBytes = type === GgmlType.MXFP4 ? 17 : 36;
    const numScales = type === GgmlType.MXFP4 ? 1 : 4;
    const data = new Uint8Array((numRows * numCols * blockBytes) / (type === GgmlType.MXFP4 ? 32 : 64));
    for (let block = 0; block < data.length / blockBytes; block++) {
      const o = block * blockBytes;
      // scales at their ends: E8M0 0 (2^-128, subnormal), 1, 127, 254; UE4M3 0x01 (subnormal), 0x7E (448), 0x7F (reads 0), 0xFF
      for (let s = 0; s < numScales; s++) data[o + s] = type === GgmlType.MXFP4 ? [127, 0, 1, 140][block % 4]! : [0x38, 0x01, 0x7e, 0x7f, 0xff, 0x40][(block + s) % 6]!;
      data.fill(block % 2 === 0 ? 0x77 : 0xff, o + numScales, o + blockBytes); // codes 7 (+12) or 15 (-12) in both nibbles
    }
    addMatmulCase({ name: `w-${ggmlTypeName(type)}`, type, numRows, numCols, data }, 3, rtol, x, ', extreme codes and scales');
  }
  {
    const numCols = 128;
    const x = new Float32Array(numCols);
    for (let c = 0; c < numCols; c++) x[c] = c % 32 === 0 ? 127 : ((c * 7) % 50) - 25 + 0.5; // id = 1: every x.5 a tie
    addMatmulCase(weight(type, 21, numCols), 1, rtol, x, ', rounding ties');
  }
  const table = weight(type, 50, 192);
  const ids = Int32Array.from([0, 49, 7, 7, 23]);
  addEmbeddingCase(table, ids);
  // from the table uploadWeight made for a matmul (packed on x86 with AVX2: tied embeddings can share it)
  addEmbeddingCase(table, ids, '', true);
}

// FP8_E4M3 weights × f32 activations: the same shapes; every E4M3 code (NaN excluded) and E8M0
// scales at their ends (0: 2^-127, past 246: the kernels' 2^8 cannot fold into the scale); NaN
// codes in two rows (those rows read NaN, the others not); embedding
for (const type of [GgmlType.FP8_E4M3]) {
  const rtol = 2e-6;
  for (const [numRows, numCols] of [[301, 256], [67, 96], [130, 1024]] as const) {
    const w = weight(type, numRows, numCols);
    for (const numTokens of [1, 3, 17, 33]) addMatmulCase(w, numTokens, rtol);
  }
  for (const numRows of [5, 9]) {
    const w = weight(type, numRows, 128);
    for (const numTokens of [1, 2, 4, 6, 7]) addMatmulCase(w, numTokens, rtol);
  }
  {
    const w = weight(type, 11, 64); // 2 blocks of 33 bytes per row
    const data = w.data.slice();
    data[2 * 66 + 1 + 5] = 0x7f; // row 2, block 0
    data[7 * 66 + 33 + 1 + 31] = 0xff; // row 7, block 1
    addMatmulCase({ ...w, data }, 3, rtol, undefined, ', NaN codes');
  }
  addMatmulCase(weight(type, 9, 64, true), 5, rtol, undefined, ', misaligned bytes');
  {
    // activations at f32's ends (AVX-512 scales each block of x by a power of two): token 0 with
    // an exponent per value from 2^-140 to 2^90, token 1 one per block (subnormal, zero, 2^100)
    const numCols = 320;
    const x = gaussian(2 * numCols);
    const blockExps = [-149, -135, -100, -20, 0, 40, 90, 100, 0, -60];
    for (let c = 0; c < numCols; c++) {
      x[c]! *= 2 ** (((c * 37) % 231) - 140);
      x[numCols + c]! *= c >> 5 === 8 ? 0 : 2 ** blockExps[c >> 5]!;
    }
    addMatmulCase(weight(type, 33, numCols), 2, rtol, x, ', activations at the ends of f32');
  }
  for (const glu of ['swiglu', 'geglu'] as const) {
    const w = weight(type, 45, 160);
    for (const numTokens of [1, 3, 33]) addMatmulCase(w, numTokens, rtol, gaussian(2 * numTokens * 160, 2), ` (${glu})`, glu);
  }
  {
    const numRows = 16;
    const numCols = 256;
    const data = new Uint8Array((numRows * numCols * 33) / 32);
    for (let block = 0; block < data.length / 33; block++) {
      const e = [0, 1, 100, 127, 140, 246, 247, 247][block % 8]!;
      data[block * 33] = e;
      for (let j = 0; j < 32; j++) {
        const q = (block * 32 + j) % 256;
        // every code but NaN; under 2^120 codes up to 0x6F (240), so that the values stay finite f32
        data[block * 33 + 1 + j] = e >= 247 ? (q & 0x80) | ((q & 0x7f) % 0x70) : (q & 0x7f) === 0x7f ? 0x7e : q;
      }
    }
    const x = gaussian(2 * numCols, 1e-30); // keeps 2^120 · 240 · x far from overflow
    addMatmulCase({ name: 'w-FP8_E4M3', type, numRows, numCols, data }, 2, rtol, x, ', every code, scales at their ends');
  }
  const table = weight(type, 50, 96);
  const ids = Int32Array.from([0, 49, 7, 7, 23]);
  addEmbeddingCase(table, ids);
  // from the table uploadWeight made for a matmul (packed on x86 with AVX2: tied embeddings can share it)
  addEmbeddingCase(table, ids, '', true);
}

// every type with a codec but no native kernels (the type table's rows: Q8_K) goes through the fallback
for (const { type } of GGML_TYPE_TRAITS.filter((t) => t.hasCodec && !t.native && codecFor(t.type))) {
  const w = weight(type, 12, 256);
  addMatmulCase(w, 3, 1e-12, undefined, ' (no native kernel: falls back)');
  addEmbeddingCase(w, Int32Array.from([11, 0, 5]), ' (no native kernel: falls back)');
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

const expectedOutputs = new Map<Case, Output>();
function expectedOf(c: Case): Output {
  let out = expectedOutputs.get(c);
  if (!out) {
    out = c.run(reference);
    expectedOutputs.set(c, out);
  }
  return out;
}

/** The worst element: how far past its tolerance it is (≤ 0 passes), with a description. */
function worstViolation(actual: Output, expected: Output, tolerance: (i: number) => number): { excess: number; where: string } {
  let excess = -Infinity;
  let where = '';
  if (actual.length !== expected.length) return { excess: Infinity, where: `length ${actual.length} ≠ ${expected.length}` };
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const diff = Number.isNaN(e) || Number.isNaN(a) ? (Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity) : Math.abs(a - e);
    const x = diff - tolerance(i);
    if (x > excess) {
      excess = x;
      where = `[${i}]: got ${a}, expected ${e}, |diff| ${diff.toExponential(3)}, tolerance ${tolerance(i).toExponential(3)}`;
    }
  }
  return { excess, where };
}

/**
 * The backends each case runs on. The reference backend is the expected values: against itself a
 * case only computes them twice (a quarter of this file's time), so it runs the
 * cases only when no native backend loads. It still runs the memory and dispose tests below.
 */
const opBackends = backends.length > 1 ? backends.filter((b) => b.backend !== reference) : backends;

describe('kernel conformance', () => {
  it('loads the native backend, or says why not', () => {
    if (nativeUnavailable) console.warn(`native backend not tested: ${nativeUnavailable}`);
    expect(backends.length).toBeGreaterThanOrEqual(1);
  });

  for (const { label, backend } of opBackends) {
    describe(label, () => {
      for (const c of cases) {
        it(`${c.op}: ${c.name}`, () => {
          const expected = expectedOf(c);
          const actual = c.run(backend);
          const tolerance = c.isExactOn?.(backend) ? () => 0 : c.tolerance(expected);
          const { excess, where } = worstViolation(actual, expected, tolerance);
          expect(excess, `${label} ${c.op} ${c.name} ${where}`).toBeLessThanOrEqual(0);
        });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Memory and lifetime: allocate / view / read / write, copyRows / gatherRows, uploads, the KV
// cache, dispose, on every backend and on the opaque one (buffers that are not host memory)
// ---------------------------------------------------------------------------------------------

/** fresh backends of every kind, for the tests that dispose them */
function freshBackends(): KernelBackend[] {
  const list: KernelBackend[] = [new ReferenceBackend(), new OpaqueBackend()];
  const probe = probeNativeBackend({ threads: 2 });
  if (probe.ok) list.push(probe.backend);
  return list;
}

/** the backend's buffer holding `values` */
function upload(b: KernelBackend, values: Float32Array): DeviceBuffer {
  const buf = b.allocate(values.length);
  b.write(buf, values);
  return buf;
}

describe('kernel conformance: memory', () => {
  const memoryBackends: BackendUnderTest[] = [...backends, { label: 'opaque-reference', backend: new OpaqueBackend() }];
  for (const { label, backend: b } of memoryBackends) {
    describe(label, () => {
      it('allocate gives zeros; write and read round-trip, at an offset too', () => {
        const buf = b.allocate(10);
        expect(buf.length).toBe(10);
        expect([...b.read(buf)]).toEqual(new Array(10).fill(0));
        b.write(buf, Float32Array.from([1.5, -2, 3]), 4);
        expect([...b.read(buf)]).toEqual([0, 0, 0, 0, 1.5, -2, 3, 0, 0, 0]);
        b.free(buf);
      });

      it('a view shares its buffer\'s memory, both ways, and stays inside it', () => {
        const buf = upload(b, Float32Array.from({ length: 12 }, (_, i) => i));
        const view = b.view(buf, 4, 6);
        expect(view.length).toBe(6);
        expect([...b.read(view)]).toEqual([4, 5, 6, 7, 8, 9]);
        b.scale(view, 2, -1); // an op on the view writes the buffer
        b.write(buf, Float32Array.from([100]), 9); // a write to the buffer shows in the view
        expect([...b.read(view)]).toEqual([-4, -5, 6, 7, 8, 100]);
        expect([...b.read(b.view(view, 1, 2))]).toEqual([-5, 6]); // a view of a view
        expect(() => b.view(buf, 8, 5)).toThrow(/outside a buffer of 12/);
        b.free(buf);
      });

      it('copyRows and gatherRows move exactly the rows asked for', () => {
        const src = upload(b, Float32Array.from({ length: 24 }, (_, i) => i + 1)); // [4, 6]
        const dst = b.allocate(4 * 5);
        b.copyRows(dst, 2, 5, src, 1, 6, 3, 2); // rows 0..2: columns 1..2 of src → columns 2..3 of dst
        expect([...b.read(dst)]).toEqual([0, 0, 2, 3, 0, 0, 0, 8, 9, 0, 0, 0, 14, 15, 0, 0, 0, 0, 0, 0]);
        const out = b.allocate(3 * 6);
        b.gatherRows(out, src, Int32Array.from([3, 0, 3]), 6);
        expect([...b.read(out)]).toEqual([19, 20, 21, 22, 23, 24, 1, 2, 3, 4, 5, 6, 19, 20, 21, 22, 23, 24]);
      });

      it('an embedding table uploaded for embedding gives the reference rows, every type', () => {
        for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K]) {
          const w = weight(type, 6, 256);
          const ids = Int32Array.from([5, 0, 3]);
          const expected = new Float32Array(ids.length * 256);
          reference.embedding(expected, w, ids);
          const out = b.allocate(ids.length * 256);
          b.embedding(out, b.uploadWeight(w, 'embedding'), ids);
          expect(b.read(out), ggmlTypeName(type)).toEqual(expected);
        }
      });

      it('allocates a KV cache of separate zeroed layers that storeKv and attention use', () => {
        for (const dtype of KV_CACHE_TYPES) {
          const spec = { numLayers: 2, kvDim: 2 * 16, numBlocks: 3, blockSize: 4, dtype };
          const kv = b.allocateKvCache(spec);
          expect(kv.spec).toEqual(spec);
          expect(kv.numSlots).toBe(12);
          expect(kv.byteSize).toBe(2 * 2 * 12 * { f32: 128, f16: 64, bf16: 64, fp8: 32, q8_0: 34 }[dtype]);
          expect(kv.layer(1).dtype).toBe(dtype);
          expect(kv.layer(1).blockSize).toBe(4);
          const shape: AttentionShape = { numHeads: 4, numKvHeads: 2, headDim: 16, scale: 0.25 };
          const numTokens = 5;
          const k = gaussian(numTokens * 32);
          const v = gaussian(numTokens * 32);
          const q = gaussian(numTokens * 64);
          const blockTable = Int32Array.from([2, 0]);
          const positions = Int32Array.from({ length: numTokens }, (_, i) => i);
          const slotIds = Int32Array.from(positions, (p) => blockTable[Math.floor(p / 4)]! * 4 + (p % 4));
          const run = (backend: KernelBackend, layer: number): Float32Array => {
            const cache = backend === b ? kv : reference.allocateKvCache(spec);
            backend.storeKv(cache.layer(1), upload(backend, k), upload(backend, v), slotIds, numTokens);
            const out = backend.allocate(q.length);
            backend.attention(out, upload(backend, q), cache.layer(layer), blockTable, positions, numTokens, shape);
            return backend.read(out).slice();
          };
          const expected = run(reference, 1);
          run(b, 1).forEach((x, i) => expect(Math.abs(x - expected[i]!), `${dtype} [${i}]`).toBeLessThanOrEqual(1e-5));
          expect([...run(b, 0)].every((x) => x === 0), 'layer 0 is untouched: zero K and V attend to zero').toBe(true);
          kv.dispose();
        }
      });
    });
  }
});

describe('kernel conformance: dispose', () => {
  for (const b of freshBackends()) {
    it(`${b.name}: what was freed or disposed is refused with a typed error; twice is harmless`, () => {
      const buf = b.allocate(4);
      b.free(buf);
      b.free(buf);
      expect(() => b.read(buf)).toThrow(DisposedError);

      const w = b.uploadWeight(weight(GgmlType.Q8_0, 4, 32));
      const x = upload(b, gaussian(32));
      b.matmul(b.allocate(4), w, x, 1);
      b.freeWeight(w);
      b.freeWeight(w);
      expect(() => b.matmul(b.allocate(4), w, x, 1)).toThrow(DisposedError);

      const kv = b.allocateKvCache({ numLayers: 1, kvDim: 8, numBlocks: 1, blockSize: 4, dtype: 'f16' });
      kv.dispose();
      kv.dispose();
      expect(() => kv.layer(0)).toThrow(DisposedError);

      const w2 = b.uploadWeight(weight(GgmlType.Q4_0, 4, 32));
      b.dispose();
      b.dispose();
      expect(() => b.allocate(1)).toThrow(DisposedError);
      expect(() => b.matmul(x, w2, x, 1)).toThrow(EngineDeadError); // DisposedError, or the native DISPOSED status
    });
  }
});
