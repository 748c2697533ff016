import { availableParallelism } from 'node:os';
import { EngineDeadError, InvalidRequestError } from '../../errors/engine-error.js';
import { ggmlTypesWhere } from '../../formats/ggml-type.js';
import { DisposedError } from '../disposed-error.js';
import type { HostKvCache, HostKvLayer } from '../host-kv-cache.js';
import { kvTypeCode } from '../kv-cache-type.js';
import type { AttentionShape, KernelBackend, KvCacheSpec, RopeParams, WeightShape, WeightTensor, WeightUse } from '../kernel-backend.js';
import { ReferenceBackend } from '../reference/reference-backend.js';
import { WeightArena } from './weight-arena.js';
import {
  NATIVE_ISAS,
  NativeStatus,
  loadNativeAddon,
  nativeStatusName,
  type NativeAddon,
  type NativeGlu,
  type NativeHandle,
  type NativeIsa,
} from './native-addon.js';

export interface NativeBackendOptions {
  /** threads for the kernels, the calling thread included; default: os.availableParallelism() */
  readonly threads?: number;
  /**
   * the highest instruction set to use; default: PEREGRINE_ISA when set, else the best this CPU
   * supports, which is always the upper bound
   */
  readonly isa?: NativeIsa;
  /** the addon file; default build/Release/peregrine.node */
  readonly addonPath?: string;
  /**
   * Repack Q4_0 / Q8_0 / Q4_K weights, on their first matmul, into a layout that interleaves 16 rows
   * (AVX-512; about 2x faster GEMM and faster GEMV), or into one of 8 rows (AVX2); MXFP4 / NVFP4 /
   * FP8_E4M3 into one of 8 rows on both (about 2-3x the decode speed of their row-major kernels on AVX2). The
   * packed copy is kept next to the original bytes for as long as the WeightTensor lives, so weight
   * memory doubles. Default false.
   */
  readonly packWeights?: boolean;
  /**
   * 'exact' (default): Q8_0 / Q4_0 (Q4_K) matmuls quantize the activations to Q8_0 (Q8_K) blocks and
   * sum as llama.cpp does. 'bf16': on AMX CPUs, batches of 12+ tokens over prepared
   * (packed) weights run on bf16 tiles instead: bf16 activations × weights dequantized to bf16,
   * f32 sums; closer to the f32 result than the 8-bit activations and 1.3-1.7x faster on those
   * matmuls, but not llama.cpp's bits (and a token's logits then depend on its batch size). On
   * AVX-512-BF16 CPUs without AMX (isa 'avx512-bf16') the same arithmetic runs with vdpbf16ps:
   * as accurate, but slower than exact (Zen 5: 0.4-0.85x on those matmuls).
   * No effect on other CPUs or weight types.
   */
  readonly matmulPrecision?: MatmulPrecision;
}

export type MatmulPrecision = 'exact' | 'bf16' | 'fastest';

/**
 * The faster of the two precisions on a kernel level, as measured: AMX tiles make bf16 batches 1.3-1.6x
 * exact's; vdpbf16ps (AVX-512-BF16 without AMX: Zen 4/5, Cooper Lake) does half the multiplies of
 * vpdpbusd, and its bf16 batches ran at 0.76-0.91x exact's prefill on a Zen 5.
 */
export function fastestMatmulPrecision(isa: NativeIsa): 'exact' | 'bf16' {
  return isa === 'amx' ? 'bf16' : 'exact';
}

export type NativeBackendLoad = { readonly ok: true; readonly backend: NativeBackend } | { readonly ok: false; readonly reason: string };

/** A native kernel call failed: a bad argument (a bug in the caller), out of memory, or a disposed backend. */
export class NativeKernelError extends EngineDeadError {
  constructor(
    readonly op: string,
    readonly status: NativeStatus,
    detail: string,
  ) {
    super('NATIVE_BACKEND_FAILED', `native ${op} failed: ${nativeStatusName(status)}${detail ? ` (${detail})` : ''}`);
  }
}

/** Weight types the native embedding reads from GGUF bytes; any other type goes to the reference backend. */
const NATIVE_EMBEDDING_TYPES = ggmlTypesWhere((t) => t.native?.hasEmbedding === true);
/** Weight types the native matmul handles (the k-quants × Q8_K activations, as llama.cpp). */
const NATIVE_MATMUL_TYPES = ggmlTypesWhere((t) => t.native?.hasMatmul === true);
/** Weight types with a packed layout: 16 rows interleaved on AVX-512, 8 on AVX2 (packWeights says which) */
const PACKABLE_TYPES = ggmlTypesWhere((t) => t.native?.packedFrom !== undefined);

/**
 * KernelBackend on the C++ kernels in native/ (AVX-512 VNNI/BF16, AVX2 or scalar, picked at
 * runtime), with one persistent thread pool. Which weight types matmul and embedding run natively
 * is the `native` column of the type table (src/formats/ggml-type.ts; today matmul and embedding
 * of F32, F16, BF16, Q8_0 and Q4_0, matmul of Q4_K, Q5_K and Q6_K × Q8_K activations, as
 * llama.cpp); other types go through the reference backend. f16 and f32 KV caches.
 *
 * On AVX-512 the results are the reference backend's bits for Q8_0/Q4_0 (on AVX2 for packed or prepared Q8_0/Q4_0), packed (prepared) Q4_K (AVX-512 and AVX2)
 * and AMX-shaped F16 matmuls, rmsNorm, swiglu, rope, embedding, storeKv and add (so llama.cpp's, see
 * reference-backend.ts); attention and the other matmuls differ from it by f32 rounding only.
 * Fastest with weights passed through uploadWeight() once, at load.
 *
 * Memory: buffers are Float32Arrays and KV caches HostKvCaches (JavaScript memory, as the
 * reference backend's); an uploaded matmul weight is a copy in native-allocated memory (packed, or
 * the same bytes in huge pages), a view of a mapping it shares with the weights uploaded next to it
 * (WeightArena), which the garbage collector frees once nothing references any of them (freeWeight
 * drops this backend's references; the caller may drop the original bytes right after upload). The backend itself owns native memory (threads, scratch buffers):
 * call dispose() when done; any kernel call afterwards fails with DISPOSED.
 */
export class NativeBackend implements KernelBackend, Disposable {
  /** `native-<isa>`, plus `-packed` when packing weights, `-bf16` when batches run in bf16 (AMX tiles or vdpbf16ps) */
  readonly name: string;
  /** the instruction set the kernels use */
  readonly isa: NativeIsa;
  /** threads the kernels use, the calling thread included */
  readonly numThreads: number;
  /** whether weights of a type with a packed layout (Q4_0, Q8_0, Q4_K, MXFP4, NVFP4, FP8_E4M3) are repacked on first use (packWeights on an AVX2 or AVX-512 CPU) */
  readonly isPacking: boolean;
  /** whether matmul precision bf16 is in effect (asked for, and this CPU's kernels have bf16 batches) */
  readonly hasBf16Batches: boolean;
  /** for weight types without native kernels (k-quant embeddings, other quant types): TypeScript, correct but slow */
  private readonly fallback = new ReferenceBackend();
  /** packed copies of weights (packWeights); null when this CPU's kernels do not pack the type */
  private readonly packed = new WeakMap<WeightTensor, Uint8Array | null>();
  /** tensors from uploadWeight whose bytes are in the packed layout */
  private readonly preparedPacked = new WeakSet<WeightTensor>();
  /** weights let go of with freeWeight */
  private readonly freedWeights = new WeakSet<WeightTensor>();
  /** where uploadWeight puts its copies: many to a huge-page mapping, not each rounded up to 2 MiB pages */
  private readonly arena = new WeightArena((bytes) => this.allocateWeights(bytes).buffer as ArrayBuffer);

  /** Use loadNativeBackend() / probeNativeBackend(). */
  private constructor(
    private readonly addon: NativeAddon,
    private readonly handle: NativeHandle,
    /** the context's instruction set (the CPU's best, capped by PEREGRINE_ISA or NativeBackendOptions.isa) */
    isa: NativeIsa,
    packWeights: boolean,
    /** the precision in effect ('fastest' resolved for this CPU) */
    readonly matmulPrecision: 'exact' | 'bf16',
  ) {
    this.isa = isa;
    this.isPacking = packWeights && this.isa !== 'scalar';
    this.numThreads = addon.contextThreads(handle);
    this.hasBf16Batches = matmulPrecision === 'bf16' && (this.isa === 'amx' || this.isa === 'avx512-bf16');
    this.name = `native-${this.isa}${this.isPacking ? '-packed' : ''}${this.hasBf16Batches ? '-bf16' : ''}`;
  }

  /** Loads the addon and starts the thread pool; the failure reason is a value, never thrown. */
  static probe(options: NativeBackendOptions = {}): NativeBackendLoad {
    const loaded = loadNativeAddon(options.addonPath);
    if (!loaded.ok) return loaded;
    const { addon } = loaded;
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) return { ok: false, reason: `threads must be an integer in [1, 256], got ${threads}` };
    const asked = options.matmulPrecision ?? 'exact';
    if (asked !== 'exact' && asked !== 'bf16' && asked !== 'fastest') return { ok: false, reason: `unknown matmul precision ${String(asked)}` };
    const best = addon.bestIsa();
    let cap: NativeIsa | undefined;
    try {
      cap = options.isa ?? isaCapFromEnv();
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    const wanted = cap === undefined ? best : NATIVE_ISAS.indexOf(cap);
    if (wanted < 0) return { ok: false, reason: `unknown isa ${options.isa}` };
    const handle = addon.createContext(threads, Math.min(wanted, best));
    if (typeof handle === 'number') return { ok: false, reason: `native context failed to start: ${nativeStatusName(handle)}` };
    const isa = NATIVE_ISAS[addon.contextIsa(handle)] ?? 'scalar';
    const precision = asked === 'fastest' ? fastestMatmulPrecision(isa) : asked;
    const status = addon.setBf16Batches(handle, precision === 'bf16' ? 1 : 0);
    if (status !== NativeStatus.OK) {
      addon.disposeContext(handle);
      return { ok: false, reason: `native context failed to configure: ${nativeStatusName(status)}` };
    }
    return { ok: true, backend: new NativeBackend(addon, handle, isa, options.packWeights ?? false, precision) };
  }

  /**
   * For 'matmul': `w` in this backend's preferred layout, for a model to keep in place of `w` (this
   * copies; drop the original bytes afterwards). Q8_0 / Q4_0 / Q4_K on AVX-512 come back packed (16 rows interleaved:
   * the fastest matmuls, still bit-exact), and on AVX2 too (8 rows interleaved; Q8_0 / Q4_0 bit-exact
   * where the row-major AVX2 kernels are not, Q4_K with the row-major kernels' bits); MXFP4 / NVFP4 come back
   * packed in 8 rows on both, FP8_E4M3 in 8 on AVX2 and 16 on AVX-512; every other native type comes back as the same bytes
   * in huge-page memory (fewer TLB misses while streaming); types without native matmuls come back
   * as `w` itself (the reference kernels read its bytes). The result is only for this backend:
   * packed bytes are not GGUF blocks any more. For 'embedding' (a table read a few rows per step):
   * `w` itself, no copy.
   */
  uploadWeight(w: WeightTensor, use: WeightUse = 'matmul'): WeightTensor {
    if (this.fallback.isDisposed) throw new DisposedError(`the ${this.name} backend`);
    if (use === 'embedding' || !NATIVE_MATMUL_TYPES.has(w.type) || this.preparedPacked.has(w)) return w;
    if (PACKABLE_TYPES.has(w.type)) {
      const packed = this.pack(w, (bytes) => this.arena.take(bytes));
      if (packed) {
        const prepared: WeightTensor = { name: w.name, type: w.type, numRows: w.numRows, numCols: w.numCols, data: packed };
        this.preparedPacked.add(prepared);
        return prepared;
      }
    }
    const data = this.arena.take(w.data.length);
    data.set(w.data);
    return { name: w.name, type: w.type, numRows: w.numRows, numCols: w.numCols, data };
  }

  /**
   * The packed copies of `matrices` (the next uploads, in any order) go to one weight mapping made
   * now, which a worker faults in while the caller reads them from the file: on a VM where fresh
   * huge pages cost most of a load, the faults overlap the reads. Types this CPU does not pack are
   * left out (their uploads take memory as before).
   */
  reserveWeights(matrices: readonly WeightShape[]): void {
    let bytes = 0;
    for (const m of matrices) {
      if (PACKABLE_TYPES.has(m.type)) bytes += Math.max(0, this.addon.packedBytes(this.handle, m.type, m.numRows, m.numCols));
    }
    if (bytes > 0) this.check('reserveWeights', this.addon.faultInWeights(this.handle, this.arena.reserve(bytes)));
  }

  freeWeight(w: WeightTensor): void {
    this.freedWeights.add(w);
    this.packed.delete(w);
    this.fallback.freeWeight(w);
  }

  allocate(length: number): Float32Array {
    return this.fallback.allocate(length);
  }

  view(buffer: Float32Array, offset: number, length: number): Float32Array {
    return this.fallback.view(buffer, offset, length);
  }

  write(buffer: Float32Array, src: Float32Array, offset?: number): void {
    this.fallback.write(buffer, src, offset);
  }

  read(buffer: Float32Array): Float32Array {
    return this.fallback.read(buffer);
  }

  free(buffer: Float32Array): void {
    this.fallback.free(buffer);
  }

  allocateKvCache(spec: KvCacheSpec): HostKvCache {
    return this.fallback.allocateKvCache(spec);
  }

  copyRows(dst: Float32Array, dstOffset: number, dstStride: number, src: Float32Array, srcOffset: number, srcStride: number, numRows: number, rowLength: number): void {
    this.fallback.copyRows(dst, dstOffset, dstStride, src, srcOffset, srcStride, numRows, rowLength);
  }

  gatherRows(out: Float32Array, x: Float32Array, rows: Int32Array, rowLength: number): void {
    this.fallback.gatherRows(out, x, rows, rowLength);
  }

  matmul(out: Float32Array, w: WeightTensor, x: Float32Array, numTokens: number): void {
    if (!NATIVE_MATMUL_TYPES.has(w.type)) return this.fallback.matmul(out, w, x, numTokens);
    this.callMatmul('matmul', out, w, x, 0, numTokens);
  }

  matmulSwiglu(out: Float32Array, w: WeightTensor, gateUp: Float32Array, numTokens: number): void {
    if (!NATIVE_MATMUL_TYPES.has(w.type)) return this.fallback.matmulSwiglu(out, w, gateUp, numTokens);
    this.callMatmul('matmulSwiglu', out, w, gateUp, 1, numTokens);
  }

  matmulGeglu(out: Float32Array, w: WeightTensor, gateUp: Float32Array, numTokens: number): void {
    if (!NATIVE_MATMUL_TYPES.has(w.type)) return this.fallback.matmulGeglu(out, w, gateUp, numTokens);
    this.callMatmul('matmulGeglu', out, w, gateUp, 2, numTokens);
  }

  /** the packed bytes a matmul by `w` reads (prepared, or packed on first use), or null: w.data as it is */
  private packedBytesOf(w: WeightTensor): Uint8Array | null {
    return this.preparedPacked.has(w) ? w.data : this.isPacking && PACKABLE_TYPES.has(w.type) ? this.packedOf(w) : null;
  }

  private callMatmul(op: string, out: Float32Array, w: WeightTensor, x: Float32Array, glu: NativeGlu, numTokens: number): void {
    if (this.freedWeights.has(w)) throw new DisposedError(`weight ${w.name}`);
    const packed = this.packedBytesOf(w);
    if (packed) {
      this.check(op, this.addon.matmulPacked(this.handle, out, packed, w.type, w.numRows, w.numCols, x, numTokens, glu));
      return;
    }
    this.check(op, this.addon.matmul(this.handle, out, w.data, w.type, w.numRows, w.numCols, x, numTokens, glu));
  }

  planReadAhead(weights: readonly WeightTensor[]): void {
    const planned = weights.filter((w) => NATIVE_MATMUL_TYPES.has(w.type));
    const shapes = new Int32Array(4 * planned.length);
    const data = planned.map((w, i) => {
      const packed = this.packedBytesOf(w);
      shapes.set([w.type, w.numRows, w.numCols, packed ? 1 : 0], 4 * i);
      return packed ?? w.data;
    });
    this.check('planReadAhead', this.addon.setReadAheadPlan(this.handle, data, shapes));
  }

  embedding(out: Float32Array, table: WeightTensor, ids: Int32Array): void {
    if (this.freedWeights.has(table)) throw new DisposedError(`weight ${table.name}`);
    if (this.preparedPacked.has(table)) {
      this.check('embedding', this.addon.embeddingPacked(this.handle, out, table.data, table.type, table.numRows, table.numCols, ids));
      return;
    }
    if (!NATIVE_EMBEDDING_TYPES.has(table.type)) return this.fallback.embedding(out, table, ids);
    this.check('embedding', this.addon.embedding(this.handle, out, table.data, table.type, table.numRows, table.numCols, ids));
  }

  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, numTokens: number, eps: number): void {
    this.check('rmsNorm', this.addon.rmsNorm(this.handle, out, x, weight, numTokens, eps));
  }

  addRmsNorm(out: Float32Array, x: Float32Array, residual: Float32Array, weight: Float32Array, numTokens: number, eps: number): void {
    this.check('addRmsNorm', this.addon.rmsNorm(this.handle, out, x, weight, numTokens, eps, residual));
  }

  rope(x: Float32Array, numTokens: number, numHeads: number, headDim: number, positions: Int32Array, p: RopeParams): void {
    const status = this.addon.rope(
      this.handle,
      x,
      numTokens,
      numHeads,
      headDim,
      positions,
      p.mode === 'neox' ? 1 : 0,
      p.numRotaryDims,
      p.freqBase,
      p.freqScale,
      p.freqFactors,
      p.attnFactor ?? 1,
    );
    this.check('rope', status);
  }

  storeKv(kv: HostKvLayer, k: Float32Array, v: Float32Array, slotIds: Int32Array, numTokens: number): void {
    this.check('storeKv', this.addon.storeKv(this.handle, kv.k, kv.v, k, v, slotIds, numTokens, kvTypeCode(kv.dtype)));
  }

  attention(out: Float32Array, q: Float32Array, kv: HostKvLayer, blockTable: Int32Array, positions: Int32Array, numTokens: number, s: AttentionShape): void {
    this.check('attention', this.callAttention(out, q, kv, blockTable, 0, positions, numTokens, s));
  }

  attentionBatch(
    out: Float32Array,
    q: Float32Array,
    kv: HostKvLayer,
    blockTables: Int32Array,
    blockTableStride: number,
    positions: Int32Array,
    numTokens: number,
    s: AttentionShape,
  ): void {
    this.check('attentionBatch', this.callAttention(out, q, kv, blockTables, blockTableStride, positions, numTokens, s));
  }

  argmaxRows(out: Int32Array, x: Float32Array, numRows: number, rowLength: number): void {
    this.check('argmaxRows', this.addon.argmaxRows(this.handle, out, x, numRows, rowLength));
  }

  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    this.check('add', this.addon.add(this.handle, out, a, b, n));
  }

  addBias(x: Float32Array, bias: Float32Array, numTokens: number): void {
    this.check('addBias', this.addon.addBias(this.handle, x, bias, numTokens));
  }

  scale(x: Float32Array, n: number, s: number): void {
    this.check('scale', this.addon.scale(this.handle, x, n, s));
  }

  softcap(x: Float32Array, n: number, cap: number): void {
    this.check('softcap', this.addon.softcap(this.handle, x, n, cap));
  }

  /**
   * Zeroed memory for weight bytes, 2 MiB aligned and (on Linux) backed by transparent huge pages
   * (below 2 MiB, on Linux: page-aligned ordinary pages):
   * a model that reads its tensors into this instead of ordinary ArrayBuffers avoids a TLB miss
   * every 4 KiB while the matmuls stream the weights (measured: decode ~30% faster on a 175 MB
   * Q4_0 model). Freed by the garbage collector like any ArrayBuffer; usable after dispose().
   */
  allocateWeights(byteLength: number): Uint8Array {
    const buffer = this.addon.allocateWeightBuffer(byteLength);
    if (typeof buffer === 'number') throw new NativeKernelError('allocateWeights', buffer, `${byteLength} bytes`);
    return new Uint8Array(buffer);
  }

  /**
   * Memory read bandwidth in GB/s as the matmul kernels see it: the best of `passes` reads of a
   * buffer of `byteLength` bytes in weight memory (too big for the caches), on all threads, every
   * 64-byte line once per pass. The decode roofline of benchmarks.
   */
  measureReadBandwidth(byteLength = 512 * 2 ** 20, passes = 4): number {
    if (!Number.isSafeInteger(byteLength) || byteLength < 2 ** 20 || !Number.isSafeInteger(passes) || passes < 1) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `measureReadBandwidth needs at least 1 MiB and 1 pass (got ${byteLength} bytes, ${passes} passes)`);
    }
    const data = this.allocateWeights(byteLength);
    for (let i = 0; i < byteLength; i += 4096) data[i] = i & 0xff; // fault every page in first
    let best = Infinity;
    for (let pass = 0; pass < passes; pass++) {
      const start = performance.now();
      this.check('touchLines', this.addon.touchLines(this.handle, data));
      best = Math.min(best, performance.now() - start);
    }
    return byteLength / (best / 1000) / 1e9;
  }

  /** Stops the thread pool and frees the native scratch buffers; later calls fail with DISPOSED (twice is harmless). */
  dispose(): void {
    this.addon.disposeContext(this.handle);
    this.fallback.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private callAttention(
    out: Float32Array,
    q: Float32Array,
    kv: HostKvLayer,
    blockTables: Int32Array,
    blockTableStride: number,
    positions: Int32Array,
    numTokens: number,
    s: AttentionShape,
  ): number {
    const a = this.addon;
    return a.attention(this.handle, out, q, kv.k, kv.v, blockTables, kv.blockSize, positions, numTokens, s.numHeads, s.numKvHeads, s.headDim, s.scale, blockTableStride, s.window ?? 0, s.softcap ?? 0, kvTypeCode(kv.dtype));
  }

  /** the packed copy of `w`, made on first use; assumes w.data does not change afterwards */
  private packedOf(w: WeightTensor): Uint8Array | null {
    let packed = this.packed.get(w);
    if (packed === undefined) {
      packed = this.pack(w, (bytes) => this.allocateWeights(bytes));
      this.packed.set(w, packed);
    }
    return packed;
  }

  /** `w` in the packed layout, in memory from `allocate`; null where this CPU's kernels do not pack its type */
  private pack(w: WeightTensor, allocate: (byteLength: number) => Uint8Array): Uint8Array | null {
    const bytes = this.addon.packedBytes(this.handle, w.type, w.numRows, w.numCols);
    if (bytes === -NativeStatus.DISPOSED) throw new DisposedError(`the ${this.name} backend`);
    if (bytes < 0) this.check('packWeights', -bytes);
    if (bytes === 0) return null;
    const packed = allocate(bytes);
    this.check('packWeights', this.addon.packWeights(this.handle, w.data, w.type, w.numRows, w.numCols, packed));
    return packed;
  }

  private check(op: string, status: number): void {
    if (status === NativeStatus.OK) return;
    const detail = status === NativeStatus.BAD_ARGUMENT ? this.addon.lastError(this.handle) : '';
    throw new NativeKernelError(op, status, detail);
  }
}

/**
 * The instruction-set cap PEREGRINE_ISA sets (`amx`, `avx512-bf16`, `avx512`, `avx2`, `scalar`), so one
 * machine can run every kernel path its CPU allows; undefined when unset or empty. A level above the
 * CPU's best runs the best. An unknown value throws: a typo must not silently run other kernels.
 */
export function isaCapFromEnv(env: NodeJS.ProcessEnv = process.env): NativeIsa | undefined {
  const value = env.PEREGRINE_ISA?.trim();
  if (!value) return undefined;
  if (!(NATIVE_ISAS as readonly string[]).includes(value)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `PEREGRINE_ISA must be one of ${[...NATIVE_ISAS].reverse().join(', ')} (got '${value.slice(0, 40)}')`);
  }
  return value as NativeIsa;
}

/** The native backend, or undefined when the addon is missing or cannot start (see probeNativeBackend for why). */
export function loadNativeBackend(options: NativeBackendOptions = {}): NativeBackend | undefined {
  const result = NativeBackend.probe(options);
  return result.ok ? result.backend : undefined;
}

/** Like loadNativeBackend, but says why the backend is unavailable. */
export function probeNativeBackend(options: NativeBackendOptions = {}): NativeBackendLoad {
  return NativeBackend.probe(options);
}
