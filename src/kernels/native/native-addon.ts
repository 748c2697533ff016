import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The raw interface of build/Release/peregrine.node (native/peregrine-addon.cc). Every function
 * returns a status (0 = ok, see NativeStatus) and never throws; only NativeBackend calls these.
 */
/** the matmul's gated activation of x: 0 none, 1 swiglu (silu(gate) · up), 2 geglu (gelu(gate) · up) */
export type NativeGlu = 0 | 1 | 2;

export interface NativeAddon {
  readonly abiVersion: number;
  bestIsa(): number;
  /** the weight types the kernels know (native/type-traits.h), or a status number */
  typeTraits(): NativeTypeTraits[] | number;
  /** zeroed, 2 MiB aligned memory marked for transparent huge pages; a status number on failure */
  allocateWeightBuffer(byteLength: number): ArrayBuffer | number;
  /** a context handle, or a status number when it cannot be created */
  createContext(numThreads: number, isa: number): NativeHandle | number;
  disposeContext(handle: NativeHandle): number;
  /** isa id, or -status */
  contextIsa(handle: NativeHandle): number;
  /** number of threads, or -status */
  contextThreads(handle: NativeHandle): number;
  /** what the last failed argument check on this handle complained about */
  lastError(handle: NativeHandle): string;
  /**
   * glu 1 (swiglu) or 2 (geglu): x is [numTokens, 2 · numCols] (gate, then up, per row) and the
   * activations are silu(gate) · up or gelu(gate) · up; 0: x as it is
   */
  matmul(h: NativeHandle, out: Float32Array, w: Uint8Array, type: number, numRows: number, numCols: number, x: Float32Array, numTokens: number, glu: NativeGlu): number;
  /** matmul on weights laid out by packWeights */
  matmulPacked(
    h: NativeHandle,
    out: Float32Array,
    packed: Uint8Array,
    type: number,
    numRows: number,
    numCols: number,
    x: Float32Array,
    numTokens: number,
    glu: NativeGlu,
  ): number;
  /** the weights in the packed layout (huge-page memory), or a status (UNSUPPORTED_TYPE: this ISA does not pack the type) */
  packWeights(h: NativeHandle, w: Uint8Array, type: number, numRows: number, numCols: number): ArrayBuffer | number;
  embedding(h: NativeHandle, out: Float32Array, table: Uint8Array, type: number, numRows: number, numCols: number, ids: Int32Array): number;
  /** embedding rows of a table from packWeights */
  embeddingPacked(h: NativeHandle, out: Float32Array, packed: Uint8Array, type: number, numRows: number, numCols: number, ids: Int32Array): number;
  /** with `residual`, x += residual first (x is written) */
  rmsNorm(h: NativeHandle, out: Float32Array, x: Float32Array, weight: Float32Array, numTokens: number, eps: number, residual?: Float32Array | null): number;
  rope(
    h: NativeHandle,
    x: Float32Array,
    numTokens: number,
    numHeads: number,
    headDim: number,
    positions: Int32Array,
    isNeox: number,
    numRotaryDims: number,
    freqBase: number,
    freqScale: number,
    freqFactors: Float32Array | undefined,
    attnFactor: number,
  ): number;
  setBf16Batches(h: NativeHandle, allowed: number): number;
  argmaxRows(h: NativeHandle, out: Int32Array, x: Float32Array, numRows: number, rowLength: number): number;
  /** a Uint16Array cache holds f16 bits, a Float32Array cache f32 */
  storeKv(h: NativeHandle, kCache: Uint16Array | Float32Array, vCache: Uint16Array | Float32Array, k: Float32Array, v: Float32Array, slotIds: Int32Array, numTokens: number): number;
  attention(
    h: NativeHandle,
    out: Float32Array,
    q: Float32Array,
    kCache: Uint16Array | Float32Array,
    vCache: Uint16Array | Float32Array,
    blockTable: Int32Array,
    blockSize: number,
    positions: Int32Array,
    numTokens: number,
    numHeads: number,
    numKvHeads: number,
    headDim: number,
    scale: number,
    /** 0: one block table for every token; n: token t's is blockTable[t * n, (t + 1) * n) */
    blockTableStride: number,
    /** 0: every earlier position; n: the last n positions only (sliding window) */
    window: number,
    /** 0: none; c: scores c · tanh(q·k / c) before `scale` */
    softcap: number,
  ): number;
  add(h: NativeHandle, out: Float32Array, a: Float32Array, b: Float32Array, n: number): number;
  /** in place, x[t, i] += bias[i];  x: [numTokens, bias.length] */
  addBias(h: NativeHandle, x: Float32Array, bias: Float32Array, numTokens: number): number;
  /** in place, x[i] *= s */
  scale(h: NativeHandle, x: Float32Array, n: number, s: number): number;
  /** in place, x[i] = cap · tanh(x[i] / cap) */
  softcap(h: NativeHandle, x: Float32Array, n: number, cap: number): number;
  /** reads every 64-byte line of data on all the context's threads (a memory bandwidth probe) */
  touchLines(h: NativeHandle, data: Uint8Array): number;
  /**
   * the matmul weights of a forward pass in call order (shapes: [type, numRows, numCols, isPacked 0/1]
   * per weight): a matmul of a few tokens then has a worker read the next one into the caches
   */
  setReadAheadPlan(h: NativeHandle, weights: Uint8Array[], shapes: Int32Array): number;
}

/** One row of native/type-traits.h. */
export interface NativeTypeTraits {
  /** ggml type id */
  readonly type: number;
  readonly name: string;
  /** elements per block */
  readonly blockSize: number;
  /** bytes per block */
  readonly blockBytes: number;
  /** matmul on row-major (GGUF) weights */
  readonly hasMatmul: boolean;
  /** embedding from row-major rows (without it, only from a packed table) */
  readonly hasEmbedding: boolean;
}

/** An opaque napi_external that owns a native context (thread pool and scratch buffers). */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/** Mirrors peregrine::Status in native/kernels.h. */
export enum NativeStatus {
  OK = 0,
  BAD_ARGUMENT = 1,
  UNSUPPORTED_TYPE = 2,
  OUT_OF_MEMORY = 3,
  THREAD_START_FAILED = 4,
  DISPOSED = 5,
}

/** Instruction sets, in the order of peregrine::Isa in native/kernels.h. */
export const NATIVE_ISAS = ['scalar', 'avx2', 'avx512', 'avx512-bf16', 'amx'] as const;
export type NativeIsa = (typeof NATIVE_ISAS)[number];

/** Must equal kAbiVersion in native/peregrine-addon.cc. */
export const NATIVE_ABI_VERSION = 12;

/** Where `npm install` (node-gyp rebuild) puts the addon, from src/ and from dist/ alike. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/peregrine.node', import.meta.url));

export type NativeAddonLoad = { readonly ok: true; readonly addon: NativeAddon } | { readonly ok: false; readonly reason: string };

/** Loads the addon; never throws. */
export function loadNativeAddon(path: string = NATIVE_ADDON_PATH): NativeAddonLoad {
  if (!existsSync(path)) return { ok: false, reason: `native addon not built (${path} is missing; run npm install)` };
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    return { ok: false, reason: `native addon failed to load: ${cause instanceof Error ? cause.message : String(cause)}` };
  }
  if (addon.abiVersion !== NATIVE_ABI_VERSION) {
    return { ok: false, reason: `native addon ABI ${addon.abiVersion} does not match ${NATIVE_ABI_VERSION}; rebuild it (npm install)` };
  }
  return { ok: true, addon };
}

export function nativeStatusName(status: number): string {
  return NativeStatus[status] ?? `status ${status}`;
}
