import { closeSync } from 'node:fs';
import { ModelLoadError } from '../../errors/engine-error.js';
import { untrustedText } from '../../errors/untrusted-text.js';
import { openModelFile, readFully } from '../model-file.js';

/**
 * safetensors dtypes (the format's own names) and their element sizes. Only F32, F16 and BF16
 * load as weights today (SAFETENSORS_WEIGHT_DTYPES); the others are known so a file holding one
 * is described, and refused by name when a model needs that tensor.
 */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};

/** A tensor as a safetensors header describes it. */
export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: string;
  /** row-major (PyTorch) order: shape[shape.length - 1] is the contiguous dimension */
  readonly shape: readonly number[];
  /** absolute byte offset of the tensor data in the file */
  readonly fileOffset: number;
  readonly byteSize: number;
}

/** A parsed safetensors header. Tensor bytes stay in the file until read. */
export interface SafetensorsFile {
  readonly path: string;
  readonly fileSize: number;
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>;
  /** the header's optional `__metadata__` (string → string) */
  readonly metadata: ReadonlyMap<string, string>;
}

/**
 * Largest header accepted, in bytes: the safetensors crate's own limit (100 MB). A length field
 * above it is garbage (or a hostile file), refused before anything is allocated.
 */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

function corrupt(path: string, what: string): ModelLoadError {
  return new ModelLoadError('SAFETENSORS_CORRUPT', `${path}: not a valid safetensors file: ${what}`);
}

function quote(text: string): string {
  return `'${untrustedText(text)}'`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** one header entry → a tensor info, every field checked */
function parseEntry(name: string, entry: unknown, dataOffset: number, dataBytes: number, path: string): SafetensorsTensorInfo {
  const where = `tensor ${quote(name)}`;
  if (!isPlainObject(entry)) throw corrupt(path, `${where} is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw corrupt(path, `${where} has no dtype`);
  const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype];
  if (elementBytes === undefined) {
    throw new ModelLoadError('UNKNOWN_TENSOR_TYPE', `${path}: ${where} has unknown safetensors dtype ${quote(dtype)}`);
  }
  if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw corrupt(path, `${where} has an invalid shape`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw corrupt(path, `${where} has invalid data_offsets (must be [begin, end])`);
  }
  const [begin, end] = offsets as [number, number];
  const numElements = (shape as number[]).reduce((a, b) => a * b, 1);
  const byteSize = numElements * elementBytes;
  if (!Number.isSafeInteger(byteSize) || end < begin || end - begin !== byteSize) {
    throw corrupt(path, `${where} has data_offsets [${begin}, ${end}] for ${numElements} ${dtype} elements (${byteSize} bytes)`);
  }
  if (end > dataBytes) {
    throw new ModelLoadError(
      'SAFETENSORS_TRUNCATED',
      `${path}: file is truncated: ${where} needs data bytes up to ${end}, the file has ${dataBytes}`,
    );
  }
  return { name, dtype, shape: shape as number[], fileOffset: dataOffset + begin, byteSize };
}

/**
 * The safetensors rule (its crate's `validate`): tensor data covers the data section exactly, in
 * order of offset, without gaps or overlaps. Two tensors sharing bytes, or bytes no tensor owns,
 * mean a corrupt or hand-edited header.
 */
function checkCoverage(tensors: readonly SafetensorsTensorInfo[], dataOffset: number, dataBytes: number, path: string): void {
  const sorted = [...tensors].sort((a, b) => a.fileOffset - b.fileOffset || a.byteSize - b.byteSize);
  let expected = 0;
  for (const t of sorted) {
    const begin = t.fileOffset - dataOffset;
    if (begin < expected) throw corrupt(path, `tensor ${quote(t.name)} at data offset ${begin} overlaps the tensor before it (which ends at ${expected})`);
    if (begin > expected) throw corrupt(path, `data bytes ${expected}..${begin} belong to no tensor (before ${quote(t.name)})`);
    expected = begin + t.byteSize;
  }
  if (expected !== dataBytes) throw corrupt(path, `the data section has ${dataBytes} bytes, the tensors cover ${expected}`);
}

/**
 * Parses a safetensors header: an 8-byte little-endian header length, that many bytes of JSON
 * ({name: {dtype, shape, data_offsets}, __metadata__?}), then the data. Every field is checked
 * before use: a truncated file, a header length beyond the file or MAX_SAFETENSORS_HEADER_BYTES,
 * overlapping or out-of-range offsets and unknown dtypes are ModelLoadErrors naming the problem.
 * Tensor data is not read; see `readSafetensorsData`.
 */
export function readSafetensors(path: string): SafetensorsFile {
  const { fd, fileSize, shownPath } = openModelFile(path);
  try {
    if (fileSize < 8) throw new ModelLoadError('SAFETENSORS_TRUNCATED', `${shownPath}: file is truncated (${fileSize} bytes; a safetensors file starts with an 8-byte header length)`);
    const lengthBytes = Buffer.alloc(8);
    readFully(fd, lengthBytes, 8, 0, shownPath);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
      throw corrupt(shownPath, `header length ${headerLength} is above the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`);
    }
    const headerBytes = Number(headerLength);
    if (8 + headerBytes > fileSize) {
      throw new ModelLoadError('SAFETENSORS_TRUNCATED', `${shownPath}: file is truncated (header needs ${8 + headerBytes} bytes, file has ${fileSize})`);
    }
    const headerBuf = Buffer.alloc(headerBytes);
    readFully(fd, headerBuf, headerBytes, 8, shownPath);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      throw new ModelLoadError('SAFETENSORS_CORRUPT', `${shownPath}: not a valid safetensors file: header is not JSON (${untrustedText((err as Error).message)})`, { cause: err });
    }
    if (!isPlainObject(header)) throw corrupt(shownPath, 'header is not a JSON object');
    const dataOffset = 8 + headerBytes;
    const dataBytes = fileSize - dataOffset;
    const tensors = new Map<string, SafetensorsTensorInfo>();
    const metadata = new Map<string, string>();
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (!isPlainObject(entry)) throw corrupt(shownPath, '__metadata__ is not an object');
        for (const [k, v] of Object.entries(entry)) {
          if (typeof v !== 'string') throw corrupt(shownPath, `__metadata__ ${quote(k)} is not a string`);
          metadata.set(k, v);
        }
        continue;
      }
      tensors.set(name, parseEntry(name, entry, dataOffset, dataBytes, shownPath));
    }
    checkCoverage([...tensors.values()], dataOffset, dataBytes, shownPath);
    return { path, fileSize, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads one tensor's bytes straight into a new off-heap buffer the caller owns (one copy: file →
 * buffer, no staging). The file is opened per call, so a long-lived model holds no descriptor.
 */
export function readSafetensorsData(file: SafetensorsFile, info: SafetensorsTensorInfo): Uint8Array {
  const { fd, shownPath } = openModelFile(file.path);
  try {
    const bytes = new Uint8Array(new ArrayBuffer(info.byteSize));
    if (readFully(fd, bytes, info.byteSize, info.fileOffset, shownPath) < info.byteSize) {
      throw new ModelLoadError('SAFETENSORS_TRUNCATED', `${shownPath}: unexpected end of file in tensor ${quote(info.name)}`);
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}
