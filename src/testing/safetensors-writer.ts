import { closeSync, openSync, writeSync } from 'node:fs';

/** One tensor to write: row-major (PyTorch) shape, its bytes already in `dtype`. */
export interface SafetensorsTensorSpec {
  readonly name: string;
  readonly dtype: 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'I8';
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/**
 * Writes a safetensors file (the format's spec: u64 little-endian header length, the JSON header
 * padded with spaces to a multiple of 8, then the tensors back to back in the given order). For
 * test fixtures: Hugging Face twins of synthetic GGUF models.
 */
export function writeSafetensors(path: string, tensors: readonly SafetensorsTensorSpec[], metadata: Readonly<Record<string, string>> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(jsonBytes.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, length);
    writeSync(fd, jsonBytes);
    for (const t of tensors) writeSync(fd, t.data);
  } finally {
    closeSync(fd);
  }
}
