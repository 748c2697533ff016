import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The raw interface of peregrine.node (native/peregrine-addon.cc; compiled into build/Release or
 * prebuilt in prebuilds/). Every function returns a status (0 = ok, see NativeStatus) and never
 * throws; only NativeBackend calls these.
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
  /** the bytes of the packed layout of such a matrix, 0 where this ISA does not pack the type, or −status */
  packedBytes(h: NativeHandle, type: number, numRows: number, numCols: number): number;
  /** writes the weights in the packed layout to `out` (at least packedBytes long); a status (UNSUPPORTED_TYPE: this ISA does not pack the type) */
  packWeights(h: NativeHandle, w: Uint8Array, type: number, numRows: number, numCols: number, out: Uint8Array): number;
  /** `data` (page aligned, from allocateWeightBuffer) is about to be filled by packWeights from its start: a worker faults it in meanwhile (a hint; empty: stop) */
  faultInWeights(h: NativeHandle, data: Uint8Array): number;
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
  /** kvType: kvTypeCode (src/kernels/kv-cache-type.ts) of the caches, which must be its typed arrays (HostKvLayer) */
  storeKv(
    h: NativeHandle,
    kCache: Uint8Array | Uint16Array | Float32Array,
    vCache: Uint8Array | Uint16Array | Float32Array,
    k: Float32Array,
    v: Float32Array,
    slotIds: Int32Array,
    numTokens: number,
    kvType: number,
  ): number;
  attention(
    h: NativeHandle,
    out: Float32Array,
    q: Float32Array,
    kCache: Uint8Array | Uint16Array | Float32Array,
    vCache: Uint8Array | Uint16Array | Float32Array,
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
    /** kvTypeCode of the caches (as storeKv's) */
    kvType: number,
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
  /**
   * rows of numCols values quantized to `type` into out (exactly its ggml bytes), on the calling
   * thread, as src/quant's codecs (with importance: its importance-weighted quantizer) write them;
   * takes no handle. UNSUPPORTED_TYPE where native/quantize.cc has no such quantizer.
   */
  quantizeRows(type: number, src: Float32Array, numCols: number, importance: Float32Array | null, out: Uint8Array): number;
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
export const NATIVE_ABI_VERSION = 14;

/** The package's root folder, from src/kernels/native/ and dist/kernels/native/ alike. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Where a compile from source (`npm install` without a usable prebuilt, `npm run build:native`) puts the addon. */
export const NATIVE_ADDON_PATH = join(PACKAGE_ROOT, 'build/Release/peregrine.node');

/** Prebuilt addons shipped in the npm package (scripts/prebuild.mjs): prebuilds/<platform>-<arch>/{peregrine.node,manifest.json}. */
export const PREBUILDS_DIR = join(PACKAGE_ROOT, 'prebuilds');

/**
 * What to do when no addon loads: install a compiler, then compile. The same text ends the
 * TypeScript-backend warning and scripts/install.mjs's message when a compile fails.
 */
export const NATIVE_BUILD_HINT = [
  'To compile the native kernels, install a C++ compiler, make and python3:',
  '  Debian/Ubuntu: sudo apt-get install g++ make python3',
  '  Fedora/RHEL:   sudo dnf install gcc-c++ make python3',
  '  Alpine:        apk add g++ make python3 linux-headers',
  '  Arch:          sudo pacman -S gcc make python',
  '  macOS:         xcode-select --install',
  'then rebuild: npm rebuild peregrine (in a checkout of Peregrine: npm run build:native)',
  "(where npm blocks dependencies' install scripts, as npm 11 does by default, first: npm install-scripts approve peregrine)",
].join('\n');

/** prebuilds/<platform>-<arch>/manifest.json, written by scripts/prebuild.mjs next to the addon it describes. */
export interface PrebuildManifest {
  readonly platform: string;
  readonly arch: string;
  /** kAbiVersion of the sources it was built from */
  readonly abiVersion: number;
  /** the Node-API version it needs (at most process.versions.napi) */
  readonly napiVersion: number;
  /** the commit it was built from, with `-dirty` when the sources had uncommitted changes; null outside git */
  readonly gitCommit: string | null;
}

/** Where the loaded addon came from: a local compile (build/Release), a prebuilt of the package, or a path the caller named. */
export type NativeAddonSource = 'build' | 'prebuilt' | 'path';

export type NativeAddonLoad =
  | {
      readonly ok: true;
      readonly addon: NativeAddon;
      /** the .node file loaded */
      readonly path: string;
      readonly source: NativeAddonSource;
      /** the prebuilt's manifest; null for the other sources */
      readonly manifest: PrebuildManifest | null;
    }
  | { readonly ok: false; readonly reason: string };

type FileLoad = { readonly ok: true; readonly addon: NativeAddon } | { readonly ok: false; readonly reason: string };

/**
 * Loads the addon; never throws. With a path, that file only. Without: build/Release/peregrine.node
 * when it exists and its ABI matches (a local compile wins, so a change to native/ is what runs),
 * else the prebuilt for this platform and architecture when its manifest matches; else the reason
 * for each, followed by NATIVE_BUILD_HINT.
 */
export function loadNativeAddon(path?: string): NativeAddonLoad {
  if (path !== undefined) {
    const loaded = loadAddonFile(path);
    return loaded.ok ? { ...loaded, path, source: 'path', manifest: null } : { ok: false, reason: `${path}: ${loaded.reason}` };
  }
  const local = loadAddonFile(NATIVE_ADDON_PATH);
  if (local.ok) return { ...local, path: NATIVE_ADDON_PATH, source: 'build', manifest: null };
  const target = `${process.platform}-${process.arch}`;
  const prebuiltPath = join(PREBUILDS_DIR, target, 'peregrine.node');
  const prebuilt = loadPrebuilt(prebuiltPath, target);
  if (prebuilt.ok) return { ok: true, addon: prebuilt.addon, path: prebuiltPath, source: 'prebuilt', manifest: prebuilt.manifest };
  return {
    ok: false,
    reason:
      `no usable native addon for ${target}: ${relative(PACKAGE_ROOT, NATIVE_ADDON_PATH)}: ${local.reason}; ` +
      `${relative(PACKAGE_ROOT, prebuiltPath)}: ${prebuilt.reason}.\n${NATIVE_BUILD_HINT}`,
  };
}

/** What `peregrine info` and `serve` say about the addon: the file loaded and where it came from, or why none loads. */
export function describeNativeAddon(load: NativeAddonLoad): { readonly line: string; readonly json: Record<string, unknown> } {
  if (!load.ok) return { line: `none (${load.reason.split('\n')[0]})`, json: { loaded: false, reason: load.reason } };
  const from = { build: 'compiled from source', prebuilt: 'prebuilt', path: 'the path given' }[load.source];
  const commit = load.manifest?.gitCommit ? `, commit ${load.manifest.gitCommit.slice(0, 12)}` : '';
  return {
    line: `${load.path} (${from}, ABI ${load.addon.abiVersion}${commit})`,
    json: { loaded: true, path: load.path, source: load.source, abiVersion: load.addon.abiVersion, gitCommit: load.manifest?.gitCommit ?? null },
  };
}

function loadAddonFile(path: string): FileLoad {
  if (!existsSync(path)) return { ok: false, reason: 'not built (the file is missing)' };
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    return { ok: false, reason: `failed to load: ${cause instanceof Error ? cause.message : String(cause)}` };
  }
  if (addon.abiVersion !== NATIVE_ABI_VERSION) {
    return { ok: false, reason: `its ABI is ${String(addon.abiVersion)}, this Peregrine needs ${NATIVE_ABI_VERSION} (built from other sources: rebuild it)` };
  }
  return { ok: true, addon };
}

function loadPrebuilt(path: string, target: string): { readonly ok: true; readonly addon: NativeAddon; readonly manifest: PrebuildManifest } | { readonly ok: false; readonly reason: string } {
  if (!existsSync(path)) return { ok: false, reason: 'missing (no prebuilt for this platform in the package)' };
  const manifestPath = join(dirname(path), 'manifest.json');
  const manifest = readPrebuildManifest(manifestPath);
  if (typeof manifest === 'string') return { ok: false, reason: `not used: ${manifest}` };
  if (`${manifest.platform}-${manifest.arch}` !== target) return { ok: false, reason: `not used: its manifest says it is for ${manifest.platform}-${manifest.arch}` };
  if (manifest.abiVersion !== NATIVE_ABI_VERSION) {
    return { ok: false, reason: `not used: built for ABI ${manifest.abiVersion}, this Peregrine needs ${NATIVE_ABI_VERSION}` };
  }
  const napi = Number(process.versions.napi);
  if (!(manifest.napiVersion <= napi)) return { ok: false, reason: `not used: needs Node-API ${manifest.napiVersion}, this Node.js has ${process.versions.napi}` };
  const loaded = loadAddonFile(path);
  return loaded.ok ? { ...loaded, manifest } : loaded;
}

/** The manifest, or what is wrong with it (the file is input: every field is checked). */
export function readPrebuildManifest(path: string): PrebuildManifest | string {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    return `${basename(path)} is missing or not JSON (${cause instanceof Error ? cause.message : String(cause)})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${basename(path)} is not a JSON object`;
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  const text = (key: string): string => {
    const v = record[key];
    if (typeof v === 'string' && v.length > 0) return v;
    problems.push(`${key} must be a non-empty string`);
    return '';
  };
  const integer = (key: string): number => {
    const v = record[key];
    if (Number.isSafeInteger(v) && (v as number) > 0) return v as number;
    problems.push(`${key} must be a positive integer`);
    return 0;
  };
  const manifest: PrebuildManifest = {
    platform: text('platform'),
    arch: text('arch'),
    abiVersion: integer('abiVersion'),
    napiVersion: integer('napiVersion'),
    gitCommit: record.gitCommit === null ? null : text('gitCommit'),
  };
  return problems.length === 0 ? manifest : `${basename(path)}: ${problems.join(', ')}`;
}

export function nativeStatusName(status: number): string {
  return NativeStatus[status] ?? `status ${status}`;
}
