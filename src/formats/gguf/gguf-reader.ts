import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelLoadError } from '../../errors/engine-error.js';
import { ggmlTypeName, ggmlTypeTraits, type GgmlType } from '../ggml-type.js';
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

/** Sequential little-endian reader over a file descriptor, buffered in 1 MiB chunks. */
class HeaderCursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0; // file offset of buf[0]
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
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
    let done = 0;
    while (done < size) {
      const got = readSync(this.fd, this.buf, done, size - done, this.pos + done);
      if (got === 0) break;
      done += got;
    }
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
   * hold (each counted item takes at least `minItemBytes`) the file is truncated.
   */
  count(what: string, limit: number, minItemBytes: number): number {
    const v = this.u64();
    if (v > BigInt(limit)) {
      throw new ModelLoadError('GGUF_CORRUPT', `${this.path}: ${what} ${v} is implausible (at byte ${this.pos - 8})`);
    }
    const n = Number(v);
    if (n * minItemBytes > this.fileSize - this.pos) {
      throw new ModelLoadError(
        'GGUF_TRUNCATED',
        `${this.path}: file is truncated (${what} ${n} needs more than the ${this.fileSize - this.pos} bytes left)`,
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
    throw new ModelLoadError('GGUF_CORRUPT', `${path}: metadata '${key}' has unknown value type ${t}`);
  }
  return t as GgufValueType;
}

function readValue(c: HeaderCursor, path: string, key: string): GgufValue {
  const type = readValueType(c, path, key);
  if (type !== GgufValueType.ARRAY) return { type, value: readScalar(c, type) };
  const itemType = readValueType(c, path, key);
  if (itemType === GgufValueType.ARRAY) {
    throw new ModelLoadError('GGUF_CORRUPT', `${path}: metadata '${key}' is a nested array, which is not supported`);
  }
  const n = c.count(`array length of '${key}'`, MAX_ARRAY_ITEMS, 1);
  const items: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) items[i] = readScalar(c, itemType);
  return { type, itemType, value: items };
}

/** Parses a GGUF (v2 or v3) header. Tensor data is not read; see `readTensorData`. */
export function readGguf(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelLoadError(
      code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_READ_FAILED',
      code === 'ENOENT' ? `model file not found: ${path}` : `cannot open model file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    const fileSize = fstatSync(fd).size;
    const c = new HeaderCursor(fd, fileSize, path);
    if (fileSize < 4 || c.u32() !== GGUF_MAGIC) {
      throw new ModelLoadError('GGUF_BAD_MAGIC', `${path}: not a GGUF file (bad magic)`);
    }
    const version = c.u32();
    if (version !== 2 && version !== 3) {
      throw new ModelLoadError('GGUF_UNSUPPORTED_VERSION', `${path}: unsupported GGUF version ${version} (need 2 or 3)`);
    }
    const numTensors = c.count('tensor count', MAX_COUNT, 8);
    const numKv = c.count('metadata count', MAX_COUNT, 8);

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < numKv; i++) {
      const key = c.string();
      metadata.set(key, readValue(c, path, key));
    }

    const alignValue = metadata.get('general.alignment');
    let alignment = DEFAULT_ALIGNMENT;
    if (alignValue !== undefined) {
      alignment = alignValue.type === GgufValueType.ARRAY ? 0 : Number(alignValue.value);
      if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
        throw new ModelLoadError('GGUF_CORRUPT', `${path}: general.alignment must be a power of two`);
      }
    }

    const raw: { name: string; shape: number[]; type: GgmlType; offset: number }[] = [];
    for (let i = 0; i < numTensors; i++) {
      const name = c.string();
      const numDims = c.u32();
      if (numDims < 1 || numDims > MAX_DIMS) {
        throw new ModelLoadError('GGUF_CORRUPT', `${path}: tensor '${name}' has ${numDims} dimensions (1..${MAX_DIMS})`);
      }
      const shape: number[] = [];
      for (let d = 0; d < numDims; d++) shape.push(c.count(`dimension of tensor '${name}'`, Number.MAX_SAFE_INTEGER, 0));
      const type = c.u32() as GgmlType;
      const offset = c.count(`offset of tensor '${name}'`, Number.MAX_SAFE_INTEGER, 0);
      raw.push({ name, shape, type, offset });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;

    const tensors: GgufTensorInfo[] = raw.map(({ name, shape, type, offset }) => {
      const traits = ggmlTypeTraits(type);
      if (!traits) {
        throw new ModelLoadError('UNKNOWN_TENSOR_TYPE', `${path}: tensor '${name}' has unknown ggml type ${type}`);
      }
      const numElements = shape.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(numElements) || shape[0]! % traits.blockSize !== 0) {
        throw new ModelLoadError(
          'BAD_TENSOR_SHAPE',
          `${path}: tensor '${name}' shape [${shape}] does not fit ${ggmlTypeName(type)} blocks of ${traits.blockSize}`,
        );
      }
      if (offset % alignment !== 0) {
        throw new ModelLoadError('GGUF_CORRUPT', `${path}: tensor '${name}' offset ${offset} is not aligned to ${alignment}`);
      }
      const byteSize = (numElements / traits.blockSize) * traits.typeSize;
      const fileOffset = dataOffset + offset;
      if (fileOffset + byteSize > fileSize) {
        throw new ModelLoadError(
          'GGUF_TRUNCATED',
          `${path}: file is truncated: tensor '${name}' needs bytes up to ${fileOffset + byteSize}, file has ${fileSize}`,
        );
      }
      return { name, shape, type, fileOffset, byteSize, numElements };
    });
    return { path, version, metadata, tensors, alignment, dataOffset, fileSize };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads tensors' bytes into off-heap buffers (one per tensor; no tensor is near the 4 GiB
 * typed-array limit even when the file is far bigger). Returned views are owned by the caller.
 */
export function readTensorData(file: GgufFile, infos: readonly GgufTensorInfo[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let fd: number;
  try {
    fd = openSync(file.path, 'r');
  } catch (err) {
    throw new ModelLoadError('FILE_READ_FAILED', `cannot open model file ${file.path}`, { cause: err });
  }
  try {
    for (const info of infos) {
      const bytes = new Uint8Array(new ArrayBuffer(info.byteSize));
      let done = 0;
      while (done < info.byteSize) {
        const n = Math.min(info.byteSize - done, 1 << 30);
        const got = readSync(fd, bytes, done, n, info.fileOffset + done);
        if (got === 0) {
          throw new ModelLoadError('GGUF_TRUNCATED', `${file.path}: unexpected end of file in tensor '${info.name}'`);
        }
        done += got;
      }
      out.set(info.name, bytes);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
