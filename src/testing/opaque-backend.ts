import { InvalidRequestError } from '../errors/engine-error.js';
import { DisposedError } from '../kernels/disposed-error.js';
import type { HostKvCache, HostKvLayer } from '../kernels/host-kv-cache.js';
import type {
  AttentionShape,
  DeviceBuffer,
  KernelBackend,
  KvCache,
  KvCacheSpec,
  KvLayerHandle,
  RopeParams,
  WeightHandle,
  WeightTensor,
  WeightUse,
} from '../kernels/kernel-backend.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';

/** Model code touched a backend buffer as if it were host memory. */
export class HostAccessError extends Error {
  constructor(what: string) {
    super(`host access to an opaque backend buffer: ${what} (use backend.read / write / view)`);
    this.name = 'HostAccessError';
  }
}

/** an allocation: freed together with every view of it */
interface Allocation {
  isFreed: boolean;
}

interface BufferEntry {
  readonly data: Float32Array;
  readonly allocation: Allocation;
}

/** property reads an opaque buffer allows: its length, and what printing or awaiting an object looks at */
const ALLOWED_KEYS = new Set<string | symbol>(['length', 'then', 'toJSON', 'constructor', 'asymmetricMatch', '$$typeof', 'nodeType', '@@__IMMUTABLE_ITERABLE__@@', '@@__IMMUTABLE_RECORD__@@', Symbol.toStringTag, Symbol.iterator, Symbol.for('nodejs.util.inspect.custom')]);

/**
 * A test backend that proves model code never relies on a CPU backend's buffers being typed
 * arrays: it runs the reference kernels, but every buffer, weight handle and KV layer it hands out
 * is an opaque object (a buffer has a `length` and nothing else: indexing it, or any typed-array
 * method, throws HostAccessError), every argument must be one of its own live objects (a host
 * Float32Array is refused), weights are copied at upload (the caller's bytes may go), and `read`
 * returns a fresh copy (as a device backend's read-back would), counted in `numReads`. A model
 * that runs here with the same logits as on the reference backend uses the interface only.
 */
export class OpaqueBackend implements KernelBackend {
  readonly name = 'opaque-reference';
  readonly hasBf16Batches = false;
  /** reads since construction: a forward pass should need one (the logits), plus one for pooled hidden rows */
  numReads = 0;
  private readonly inner = new ReferenceBackend();
  private readonly buffers = new WeakMap<object, BufferEntry>();
  private readonly weights = new WeakMap<object, { tensor: WeightTensor; isFreed: boolean }>();
  private readonly kvLayers = new WeakMap<object, { layer: HostKvLayer; cache: HostKvCache }>();
  private isDisposed = false;

  allocate(length: number): DeviceBuffer {
    this.checkLive();
    return this.wrap(this.inner.allocate(length), { isFreed: false });
  }

  view(buffer: DeviceBuffer, offset: number, length: number): DeviceBuffer {
    const entry = this.entry(buffer);
    return this.wrap(this.inner.view(entry.data, offset, length), entry.allocation);
  }

  write(buffer: DeviceBuffer, src: Float32Array, offset = 0): void {
    if (!(src instanceof Float32Array)) throw new InvalidRequestError('INVALID_ARGUMENT', 'write takes host f32 values');
    this.inner.write(this.data(buffer), src, offset);
  }

  read(buffer: DeviceBuffer): Float32Array {
    this.numReads++;
    return this.data(buffer).slice();
  }

  free(buffer: DeviceBuffer): void {
    const entry = this.buffers.get(buffer);
    if (entry) entry.allocation.isFreed = true;
  }

  uploadWeight(w: WeightTensor, _use?: WeightUse): WeightHandle {
    this.checkLive();
    const handle: WeightHandle = Object.freeze({ name: w.name, type: w.type, numRows: w.numRows, numCols: w.numCols });
    this.weights.set(handle, { tensor: { ...w, data: w.data.slice() }, isFreed: false });
    return handle;
  }

  freeWeight(w: WeightHandle): void {
    const entry = this.weights.get(w);
    if (entry) entry.isFreed = true;
  }

  allocateKvCache(spec: KvCacheSpec): KvCache {
    this.checkLive();
    const cache = this.inner.allocateKvCache(spec);
    const handles = new Map<number, KvLayerHandle>();
    const kvLayers = this.kvLayers;
    return {
      spec,
      numSlots: cache.numSlots,
      byteSize: cache.byteSize,
      layer(layer: number): KvLayerHandle {
        const inner = cache.layer(layer); // a DisposedError after dispose
        let handle = handles.get(layer);
        if (!handle) {
          handle = Object.freeze({ dtype: inner.dtype, blockSize: inner.blockSize });
          handles.set(layer, handle);
          kvLayers.set(handle, { layer: inner, cache });
        }
        return handle;
      },
      dispose(): void {
        cache.dispose();
        handles.clear();
      },
      [Symbol.dispose](): void {
        this.dispose();
      },
    };
  }

  dispose(): void {
    this.isDisposed = true;
    this.inner.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  matmul(out: DeviceBuffer, w: WeightHandle, x: DeviceBuffer, numTokens: number): void {
    this.inner.matmul(this.data(out), this.weight(w), this.data(x), numTokens);
  }

  matmulSwiglu(out: DeviceBuffer, w: WeightHandle, gateUp: DeviceBuffer, numTokens: number): void {
    this.inner.matmulSwiglu(this.data(out), this.weight(w), this.data(gateUp), numTokens);
  }

  matmulGeglu(out: DeviceBuffer, w: WeightHandle, gateUp: DeviceBuffer, numTokens: number): void {
    this.inner.matmulGeglu(this.data(out), this.weight(w), this.data(gateUp), numTokens);
  }

  embedding(out: DeviceBuffer, table: WeightHandle, ids: Int32Array): void {
    this.inner.embedding(this.data(out), this.weight(table), ids);
  }

  rmsNorm(out: DeviceBuffer, x: DeviceBuffer, weight: DeviceBuffer, numTokens: number, eps: number): void {
    this.inner.rmsNorm(this.data(out), this.data(x), this.data(weight), numTokens, eps);
  }

  addRmsNorm(out: DeviceBuffer, x: DeviceBuffer, residual: DeviceBuffer, weight: DeviceBuffer, numTokens: number, eps: number): void {
    this.inner.addRmsNorm(this.data(out), this.data(x), this.data(residual), this.data(weight), numTokens, eps);
  }

  rope(x: DeviceBuffer, numTokens: number, numHeads: number, headDim: number, positions: Int32Array, params: RopeParams): void {
    this.inner.rope(this.data(x), numTokens, numHeads, headDim, positions, params);
  }

  storeKv(kv: KvLayerHandle, k: DeviceBuffer, v: DeviceBuffer, slotIds: Int32Array, numTokens: number): void {
    this.inner.storeKv(this.kvLayer(kv), this.data(k), this.data(v), slotIds, numTokens);
  }

  attention(out: DeviceBuffer, q: DeviceBuffer, kv: KvLayerHandle, blockTable: Int32Array, positions: Int32Array, numTokens: number, shape: AttentionShape): void {
    this.inner.attention(this.data(out), this.data(q), this.kvLayer(kv), blockTable, positions, numTokens, shape);
  }

  attentionBatch(
    out: DeviceBuffer,
    q: DeviceBuffer,
    kv: KvLayerHandle,
    blockTables: Int32Array,
    blockTableStride: number,
    positions: Int32Array,
    numTokens: number,
    shape: AttentionShape,
  ): void {
    this.inner.attentionBatch(this.data(out), this.data(q), this.kvLayer(kv), blockTables, blockTableStride, positions, numTokens, shape);
  }

  add(out: DeviceBuffer, a: DeviceBuffer, b: DeviceBuffer, n: number): void {
    this.inner.add(this.data(out), this.data(a), this.data(b), n);
  }

  scale(x: DeviceBuffer, n: number, s: number): void {
    this.inner.scale(this.data(x), n, s);
  }

  softcap(x: DeviceBuffer, n: number, cap: number): void {
    this.inner.softcap(this.data(x), n, cap);
  }

  addBias(x: DeviceBuffer, bias: DeviceBuffer, numTokens: number): void {
    this.inner.addBias(this.data(x), this.data(bias), numTokens);
  }

  argmaxRows(out: Int32Array, x: DeviceBuffer, numRows: number, rowLength: number): void {
    this.inner.argmaxRows(out, this.data(x), numRows, rowLength);
  }

  copyRows(dst: DeviceBuffer, dstOffset: number, dstStride: number, src: DeviceBuffer, srcOffset: number, srcStride: number, numRows: number, rowLength: number): void {
    this.inner.copyRows(this.data(dst), dstOffset, dstStride, this.data(src), srcOffset, srcStride, numRows, rowLength);
  }

  gatherRows(out: DeviceBuffer, x: DeviceBuffer, rows: Int32Array, rowLength: number): void {
    this.inner.gatherRows(this.data(out), this.data(x), rows, rowLength);
  }

  private wrap(data: Float32Array, allocation: Allocation): DeviceBuffer {
    const length = data.length;
    const target = Object.freeze({ length });
    const buffer = new Proxy(target, {
      get(t, key) {
        if (!ALLOWED_KEYS.has(key)) throw new HostAccessError(`buffer[${String(key)}]`);
        return Reflect.get(t, key) as unknown;
      },
      set(_t, key) {
        throw new HostAccessError(`buffer[${String(key)}] = ...`);
      },
    });
    this.buffers.set(buffer, { data, allocation });
    return buffer;
  }

  private checkLive(): void {
    if (this.isDisposed) throw new DisposedError(`the ${this.name} backend`);
  }

  private entry(buffer: DeviceBuffer): BufferEntry {
    this.checkLive();
    const entry = this.buffers.get(buffer);
    if (!entry) throw new InvalidRequestError('INVALID_ARGUMENT', `not a buffer of the ${this.name} backend: ${describeValue(buffer)}`);
    if (entry.allocation.isFreed) throw new DisposedError('a buffer');
    return entry;
  }

  private data(buffer: DeviceBuffer): Float32Array {
    return this.entry(buffer).data;
  }

  private weight(w: WeightHandle): WeightTensor {
    this.checkLive();
    const entry = this.weights.get(w);
    if (!entry) throw new InvalidRequestError('INVALID_ARGUMENT', `weight ${w.name} was not uploaded to the ${this.name} backend`);
    if (entry.isFreed) throw new DisposedError(`weight ${w.name}`);
    return entry.tensor;
  }

  private kvLayer(kv: KvLayerHandle): HostKvLayer {
    this.checkLive();
    const entry = this.kvLayers.get(kv);
    if (!entry) throw new InvalidRequestError('INVALID_ARGUMENT', `not a KV layer of the ${this.name} backend`);
    entry.cache.layer(0); // a DisposedError once the cache is disposed
    return entry.layer;
  }
}

function describeValue(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `a host ${value.constructor.name}`;
  return typeof value;
}
