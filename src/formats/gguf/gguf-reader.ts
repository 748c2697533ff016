import { closeSync } from 'node:fs';
import { ModelLoadError } from '../../errors/engine-error.js';
import { untrustedText } from '../../errors/untrusted-text.js';
import { ggmlTypeName, ggmlTypeTraits, type GgmlType } from '../ggml-type.js';
import { openModelFile, readFully } from '../model-file.js';
import type { GgufFile, GgufTensorInfo } from './gguf-file.js';
import { GgufValueType, type GgufScalar, type GgufScalarType, type GgufValue } from './gguf-value.js';

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;
const CHUNK_BYTES = 1 << 20;
const MAX_DIMS = 4;
// sanity limits: beyond these a header field is garbage, not a big model
const MAX_COUNT = 2 ** 24;
const MAX_STRING_BYTES = 2 ** 30;
const MAX_ARRAY_ITEMS = 2 ** 31;

/** `'name'` for a message: a name, key or value from the file, escaped and bounded. */
function quote(text: string): string {
  return `'${untrustedText(text)}'`;
}

/** Sequential little-endian reader over a file descriptor, buffered in 1 MiB chunks. */
class HeaderCursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0; // file offset of buf[0]
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    /** the path as messages show it (see `untrustedPath`) */
    private readonly path: string,
  ) {}

  private ensure(n: number): void {
    if (this.pos + n > this.fileSize) {
      throw new ModelLoadError(
        'GGUF_TRUNCATED',
        `${this.path}: file is truncated (header needs byte ${this.pos + n}, file has ${this.fileSize})`,
      );
    }
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const size = Math.min(Math.max(n, CHUNK_BYTES), this.fileSize - this.pos);
    this.buf = Buffer.alloc(size);
    const done = readFully(this.fd, this.buf, size, this.pos, this.path);
    if (done < n) throw new ModelLoadError('GGUF_TRUNCATED', `${this.path}: unexpected end of file`);
    this.bufStart = this.pos;
  }

  /** advances past n bytes and returns their offset in `buf` (call before reading `buf`: it may refill it) */
  private at(n: number): number {
    this.ensure(n);
    const off = this.pos - this.bufStart;
    this.pos += n;
    return off;
  }

  u8(): number { const off = this.at(1); return this.buf.readUInt8(off); }
  i8(): number { const off = this.at(1); return this.buf.readInt8(off); }
  u16(): number { const off = this.at(2); return this.buf.readUInt16LE(off); }
  i16(): number { const off = this.at(2); return this.buf.readInt16LE(off); }
  u32(): number { const off = this.at(4); return this.buf.readUInt32LE(off); }
  i32(): number { const off = this.at(4); return this.buf.readInt32LE(off); }
  f32(): number { const off = this.at(4); return this.buf.readFloatLE(off); }
  f64(): number { const off = this.at(8); return this.buf.readDoubleLE(off); }
  u64(): bigint { const off = this.at(8); return this.buf.readBigUInt64LE(off); }
  i64(): bigint { const off = this.at(8); return this.buf.readBigInt64LE(off); }

  /**
   * A u64 count: beyond `limit` the header is corrupt; beyond what the remaining bytes could
   * hold (each counted item takes at least `minItemBytes`) the file is truncated. `what` names
   * the count for a message (a function: it may quote a name, which costs only on failure).
   */
  count(what: string | (() => string), limit: number, minItemBytes: number): number {
    const v = this.u64();
    const name = (): string => (typeof what === 'string' ? what : what());
    if (v > BigInt(limit)) {
      throw new ModelLoadError('GGUF_CORRUPT', `${this.path}: ${name()} ${v} is implausible (at byte ${this.pos - 8})`);
    }
    const n = Number(v);
    if (n * minItemBytes > this.fileSize - this.pos) {
      throw new ModelLoadError(
        'GGUF_TRUNCATED',
        `${this.path}: file is truncated (${name()} ${n} needs more than the ${this.fileSize - this.pos} bytes left)`,
      );
    }
    return n;
  }

  string(): string {
    const len = this.count('string length', MAX_STRING_BYTES, 1);
    if (len === 0) return '';
    const off = this.at(len);
    return this.buf.toString('utf8', off, off + len);
  }
}

function readScalar(c: HeaderCursor, type: GgufScalarType): GgufScalar {
  switch (type) {
    case GgufValueType.UINT8: return c.u8();
    case GgufValueType.INT8: return c.i8();
    case GgufValueType.UINT16: return c.u16();
    case GgufValueType.INT16: return c.i16();
    case GgufValueType.UINT32: return c.u32();
    case GgufValueType.INT32: return c.i32();
    case GgufValueType.FLOAT32: return c.f32();
    case GgufValueType.FLOAT64: return c.f64();
    case GgufValueType.UINT64: return c.u64();
    case GgufValueType.INT64: return c.i64();
    case GgufValueType.BOOL: return c.u8() !== 0;
    case GgufValueType.STRING: return c.string();
  }
}

function readValueType(c: HeaderCursor, path: string, key: string): GgufValueType {
  const t = c.u32();
  if (!(t in GgufValueType)) {
    throw new ModelLoadError('GGUF_CORRUPT', `${path}: metadata ${quote(key)} has unknown value type ${t}`);
  }
  return t as GgufValueType;
}

function readValue(c: HeaderCursor, path: string, key: string): GgufValue {
  const type = readValueType(c, path, key);
  if (type !== GgufValueType.ARRAY) return { type, value: readScalar(c, type) };
  const itemType = readValueType(c, path, key);
  if (itemType === GgufValueType.ARRAY) {
    throw new ModelLoadError('GGUF_CORRUPT', `${path}: metadata ${quote(key)} is a nested array, which is not supported`);
  }
  const n = c.count(() => `array length of ${quote(key)}`, MAX_ARRAY_ITEMS, 1);
  const items: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) items[i] = readScalar(c, itemType);
  return { type, itemType, value: items };
}

/** A tensor info as stored: `offset` is relative to the data section. */
interface RawTensorInfo {
  readonly name: string;
  readonly shape: number[];
  readonly type: GgmlType;
  readonly offset: number;
}

function readTensorInfos(c: HeaderCursor, path: string, numTensors: number): RawTensorInfo[] {
  const raw: RawTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < numTensors; i++) {
    const name = c.string();
    if (names.has(name)) {
      // as llama.cpp's gguf.cpp: a second tensor of the same name would shadow the first
      throw new ModelLoadError('GGUF_CORRUPT', `${path}: duplicate tensor name ${quote(name)} (tensor ${i})`);
    }
    names.add(name);
    const numDims = c.u32();
    if (numDims < 1 || numDims > MAX_DIMS) {
      throw new ModelLoadError('GGUF_CORRUPT', `${path}: tensor ${quote(name)} has ${numDims} dimensions (1..${MAX_DIMS})`);
    }
    const shape: number[] = [];
    for (let d = 0; d < numDims; d++) shape.push(c.count(() => `dimension of tensor ${quote(name)}`, Number.MAX_SAFE_INTEGER, 0));
    const type = c.u32() as GgmlType;
    const offset = c.count(() => `offset of tensor ${quote(name)}`, Number.MAX_SAFE_INTEGER, 0);
    raw.push({ name, shape, type, offset });
  }
  return raw;
}

function toTensorInfo(raw: RawTensorInfo, path: string, alignment: number, dataOffset: number, fileSize: number): GgufTensorInfo {
  const { name, shape, type, offset } = raw;
  const traits = ggmlTypeTraits(type);
  if (!traits) {
    throw new ModelLoadError('UNKNOWN_TENSOR_TYPE', `${path}: tensor ${quote(name)} has unknown ggml type ${type}`);
  }
  const numElements = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(numElements) || shape[0]! % traits.blockSize !== 0) {
    throw new ModelLoadError(
      'BAD_TENSOR_SHAPE',
      `${path}: tensor ${quote(name)} shape [${shape}] does not fit ${ggmlTypeName(type)} blocks of ${traits.blockSize}`,
    );
  }
  if (offset % alignment !== 0) {
    throw new ModelLoadError('GGUF_CORRUPT', `${path}: tensor ${quote(name)} offset ${offset} is not aligned to ${alignment}`);
  }
  const byteSize = (numElements / traits.blockSize) * traits.typeSize;
  const fileOffset = dataOffset + offset;
  if (fileOffset + byteSize > fileSize) {
    throw new ModelLoadError(
      'GGUF_TRUNCATED',
      `${path}: file is truncated: tensor ${quote(name)} needs bytes up to ${fileOffset + byteSize}, file has ${fileSize}`,
    );
  }
  return { name, shape, type, fileOffset, byteSize, numElements };
}

/**
 * Tensor data lies in the tensor infos' order, each tensor at the end of the previous one padded to
 * the alignment, as llama.cpp's gguf reader requires ("tensor 'x' has offset N, expected M") and
 * every GGUF writer does. So no two tensors share bytes, and a tensor whose type or shape was
 * changed, or whose offset was swapped with another's, is refused rather than read as garbage.
 */
function checkContiguous(tensors: readonly GgufTensorInfo[], alignment: number, dataOffset: number, path: string): void {
  let expected = 0;
  for (const t of tensors) {
    const offset = t.fileOffset - dataOffset;
    if (offset !== expected) {
      throw new ModelLoadError(
        'GGUF_CORRUPT',
        `${path}: tensor ${quote(t.name)} has data offset ${offset}, expected ${expected} (tensor data must follow the tensor infos in order, ` +
          `each at the aligned end of the one before; a tensor's type or shape does not match its data)`,
      );
    }
    expected += Math.ceil(t.byteSize / alignment) * alignment;
  }
}

/** Parses a GGUF (v2 or v3) header. Tensor data is not read; see `readTensorData`. */
export function readGguf(path: string): GgufFile {
  const { fd, fileSize, shownPath } = openModelFile(path);
  try {
    const c = new HeaderCursor(fd, fileSize, shownPath);
    if (fileSize < 4 || c.u32() !== GGUF_MAGIC) {
      throw new ModelLoadError('GGUF_BAD_MAGIC', `${shownPath}: not a GGUF file (bad magic)`);
    }
    const version = c.u32();
    if (version !== 2 && version !== 3) {
      throw new ModelLoadError('GGUF_UNSUPPORTED_VERSION', `${shownPath}: unsupported GGUF version ${version} (need 2 or 3)`);
    }
    const numTensors = c.count('tensor count', MAX_COUNT, 8);
    const numKv = c.count('metadata count', MAX_COUNT, 8);

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < numKv; i++) {
      const key = c.string();
      if (metadata.has(key)) {
        // as llama.cpp's gguf.cpp: which of the two values would count is anyone's guess
        throw new ModelLoadError('GGUF_CORRUPT', `${shownPath}: duplicate metadata key ${quote(key)} (entry ${i})`);
      }
      metadata.set(key, readValue(c, shownPath, key));
    }

    const alignValue = metadata.get('general.alignment');
    let alignment = DEFAULT_ALIGNMENT;
    if (alignValue !== undefined) {
      alignment = alignValue.type === GgufValueType.ARRAY ? 0 : Number(alignValue.value);
      if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
        throw new ModelLoadError('GGUF_CORRUPT', `${shownPath}: general.alignment must be a power of two`);
      }
    }

    const raw = readTensorInfos(c, shownPath, numTensors);
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const tensors = raw.map((t) => toTensorInfo(t, shownPath, alignment, dataOffset, fileSize));
    checkContiguous(tensors, alignment, dataOffset, shownPath);
    return { path, version, metadata, tensors, alignment, dataOffset, fileSize };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads tensors' bytes into off-heap buffers (one per tensor; no tensor is near the 4 GiB
 * typed-array limit even when the file is far bigger), from the file or through its `tensorSource`
 * (a Hugging Face directory). Returned views are owned by the caller.
 */
export function readTensorData(file: GgufFile, infos: readonly GgufTensorInfo[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const info of infos) {
    if (file.tensorSource) {
      out.set(info.name, file.tensorSource.read(info));
      continue;
    }
    const bytes = new Uint8Array(new ArrayBuffer(info.byteSize));
    readTensorsInto(file, [info], bytes);
    out.set(info.name, bytes);
  }
  return out;
}

/**
 * Reads tensors' bytes one after another into `dest` (at least their total size), straight from the
 * file: how stacked matrices (q, k and v; gate and up) are read into the one buffer they share,
 * with no per-part buffer to copy from.
 */
export function readTensorsInto(file: GgufFile, infos: readonly GgufTensorInfo[], dest: Uint8Array): void {
  const { fd, shownPath } = openModelFile(file.path);
  try {
    let offset = 0;
    for (const info of infos) {
      if (readFully(fd, dest.subarray(offset, offset + info.byteSize), info.byteSize, info.fileOffset, shownPath) < info.byteSize) {
        throw new ModelLoadError('GGUF_TRUNCATED', `${shownPath}: unexpected end of file in tensor ${quote(info.name)}`);
      }
      offset += info.byteSize;
    }
  } finally {
    closeSync(fd);
  }
}
