import { closeSync, openSync, writeSync } from 'node:fs';
import { PEREGRINE_TYPE_ID_BASE, ggmlByteSize, ggmlTypeTraits, type GgmlType } from '../ggml-type.js';
import { GgufValueType, type GgufScalar, type GgufScalarType, type GgufValue } from './gguf-value.js';

export interface GgufTensorSpec {
  readonly name: string;
  /** ggml order: shape[0] is the contiguous dimension */
  readonly shape: readonly number[];
  readonly type: GgmlType;
  /** the encoded bytes, or a function producing them when the file is written (keeps memory flat) */
  readonly data: Uint8Array | (() => Uint8Array);
}

export interface GgufWriteSpec {
  readonly metadata: ReadonlyMap<string, GgufValue> | Readonly<Record<string, GgufValue>>;
  readonly tensors: readonly GgufTensorSpec[];
  readonly alignment?: number;
  readonly version?: 2 | 3;
}

/** Growable little-endian byte sink for the header. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private grow(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void { this.grow(1); this.buf.writeUInt8(v, this.length); this.length += 1; }
  i8(v: number): void { this.grow(1); this.buf.writeInt8(v, this.length); this.length += 1; }
  u16(v: number): void { this.grow(2); this.buf.writeUInt16LE(v, this.length); this.length += 2; }
  i16(v: number): void { this.grow(2); this.buf.writeInt16LE(v, this.length); this.length += 2; }
  u32(v: number): void { this.grow(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.grow(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number): void { this.grow(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  f64(v: number): void { this.grow(8); this.buf.writeDoubleLE(v, this.length); this.length += 8; }
  u64(v: bigint | number): void { this.grow(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  i64(v: bigint | number): void { this.grow(8); this.buf.writeBigInt64LE(BigInt(v), this.length); this.length += 8; }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.grow(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.grow(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeScalar(s: ByteSink, type: GgufScalarType, v: GgufScalar): void {
  switch (type) {
    case GgufValueType.UINT8: return s.u8(Number(v));
    case GgufValueType.INT8: return s.i8(Number(v));
    case GgufValueType.UINT16: return s.u16(Number(v));
    case GgufValueType.INT16: return s.i16(Number(v));
    case GgufValueType.UINT32: return s.u32(Number(v));
    case GgufValueType.INT32: return s.i32(Number(v));
    case GgufValueType.FLOAT32: return s.f32(Number(v));
    case GgufValueType.FLOAT64: return s.f64(Number(v));
    case GgufValueType.UINT64: return s.u64(v as bigint | number);
    case GgufValueType.INT64: return s.i64(v as bigint | number);
    case GgufValueType.BOOL: return s.u8(v ? 1 : 0);
    case GgufValueType.STRING: return s.string(String(v));
  }
}

/** A tensor's header entry: what the tensor infos need, without the data. */
export type GgufTensorHeader = Omit<GgufTensorSpec, 'data'>;

export interface GgufHeader {
  /** magic, version, metadata and tensor infos, padded to the alignment: the data section starts right after */
  readonly bytes: Uint8Array;
  readonly alignment: number;
  /** each tensor's data bytes, in order (each is followed by zeros up to the alignment) */
  readonly tensorByteSizes: readonly number[];
}

/**
 * Encodes a GGUF header for tensors whose data will follow in the given order, each padded to the
 * alignment (general.alignment is added when it is not the default 32).
 */
export function encodeGgufHeader(spec: Omit<GgufWriteSpec, 'tensors'> & { readonly tensors: readonly GgufTensorHeader[] }): GgufHeader {
  const alignment = spec.alignment ?? 32;
  const entries = spec.metadata instanceof Map ? [...spec.metadata] : Object.entries(spec.metadata);
  const metadata = new Map<string, GgufValue>(entries as [string, GgufValue][]);
  if (alignment !== 32 && !metadata.has('general.alignment')) metadata.set('general.alignment', { type: GgufValueType.UINT32, value: alignment });

  const head = new ByteSink();
  head.u32(0x46554747);
  head.u32(spec.version ?? 3);
  head.u64(spec.tensors.length);
  head.u64(metadata.size);
  for (const [key, value] of metadata) {
    head.string(key);
    head.u32(value.type);
    if (value.type === GgufValueType.ARRAY) {
      head.u32(value.itemType);
      head.u64(value.value.length);
      for (const item of value.value) writeScalar(head, value.itemType, item);
    } else {
      writeScalar(head, value.type, value.value);
    }
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of spec.tensors) {
    const traits = ggmlTypeTraits(t.type);
    if (!traits) throw new Error(`writeGguf: unknown tensor type ${t.type} for '${t.name}'`);
    // a type of Peregrine's own under an id llama.cpp uses (or may) would be misread there as that type
    if (!traits.isLlamaCppType && t.type < PEREGRINE_TYPE_ID_BASE) {
      throw new Error(`writeGguf: '${t.name}' is ${traits.name}, Peregrine's own type, under id ${t.type}: only ids from ${PEREGRINE_TYPE_ID_BASE} up are Peregrine's`);
    }
    const numElements = t.shape.reduce((a, b) => a * b, 1);
    const size = ggmlByteSize(t.type, numElements);
    head.string(t.name);
    head.u32(t.shape.length);
    for (const d of t.shape) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    sizes.push(size);
    offset += Math.ceil(size / alignment) * alignment;
  }
  head.pad(alignment);
  return { bytes: head.bytes(), alignment, tensorByteSizes: sizes };
}

/** Writes a GGUF file. Tensor data is streamed tensor by tensor. */
export function writeGguf(path: string, spec: GgufWriteSpec): void {
  const { bytes, alignment, tensorByteSizes: sizes } = encodeGgufHeader(spec);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, bytes);
    const zeros = new Uint8Array(alignment);
    spec.tensors.forEach((t, i) => {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (data.byteLength !== sizes[i]) {
        throw new Error(`writeGguf: tensor '${t.name}' has ${data.byteLength} bytes, its shape and type need ${sizes[i]}`);
      }
      writeAll(fd, data);
      const pad = (alignment - (data.byteLength % alignment)) % alignment;
      if (pad) writeAll(fd, zeros.subarray(0, pad));
    });
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done);
}
