/**
 * The chunks a tensor is quantized in, and their conversion: a chunk is whole rows of one tensor
 * (at most CHUNK_ELEMENTS values), described as plain data (ChunkJob) so that a worker thread can
 * convert it as well as the main thread (chunk-pool.ts): the same function, so the same bytes.
 */
import { ModelLoadError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { GgmlType, ggmlByteSize, ggmlTypeName } from '../formats/ggml-type.js';
import type { GgufTensorInfo } from '../formats/gguf/index.js';
import { readFully } from '../formats/model-file.js';
import { nativeQuantizeRows } from '../kernels/native/native-quantize.js';
import type { TensorCalibration } from './calibration.js';
import { codecFor } from './index.js';
import { importanceQuantizer, quantizeNvfp4Searched } from './importance-quantizers.js';

/** values converted and quantized at a time (4 MiB as f32) */
export const CHUNK_ELEMENTS = 1 << 20;

/** Whole rows of one tensor, and what to make of them. */
export interface ChunkJob {
  readonly tensorName: string;
  readonly inputType: GgmlType;
  readonly outputType: GgmlType;
  /** the tensor's row length */
  readonly numCols: number;
  readonly numRows: number;
  /** where the rows start in the model file, and their bytes there */
  readonly position: number;
  readonly inputBytes: number;
  /** the rows' input bytes themselves, when the model is not one file to read them from (a Hugging Face directory) */
  readonly bytes?: Uint8Array;
  /** the tensor's last chunk (its padding follows) */
  readonly isLast: boolean;
  /** [numRows, numCols] f32 to quantize instead of the file's rows (calibration's new values) */
  readonly values?: Float32Array;
  /** [numCols]: the rows are multiplied by these (calibration's column scales) */
  readonly columnScales?: Float32Array;
  /** [numCols]: the importance weights of the output type's weighted quantizer */
  readonly importance?: Float32Array;
}

/**
 * The chunks of whole rows of one tensor: copied as they are, or read as f32 and quantized to
 * `type`; with `calibration`, its values replace the tensor's, its column scales multiply the rows
 * and its importance weights the quantizer. `tensorBytes`: the whole tensor's input bytes, when it
 * is not read from the model file (each chunk then carries its rows of them).
 */
export function* tensorChunks(info: GgufTensorInfo, type: GgmlType, calibration?: TensorCalibration, tensorBytes?: Uint8Array): Generator<ChunkJob> {
  const numCols = info.shape[0]!;
  const numRows = info.numElements / numCols;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / numCols));
  const inRowBytes = info.byteSize / numRows;
  for (let row = 0; row < numRows; row += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, numRows - row);
    yield {
      tensorName: info.name,
      inputType: info.type,
      outputType: type,
      numCols,
      numRows: rows,
      position: info.fileOffset + row * inRowBytes,
      inputBytes: rows * inRowBytes,
      isLast: row + rows >= numRows,
      ...(tensorBytes && { bytes: tensorBytes.subarray(row * inRowBytes, (row + rows) * inRowBytes) }),
      ...(calibration?.values && { values: calibration.values.subarray(row * numCols, (row + rows) * numCols) }),
      ...(calibration?.columnScales && { columnScales: calibration.columnScales }),
      ...(calibration?.importance && { importance: calibration.importance }),
    };
  }
}

/**
 * The chunk's rows in its output type: its own bytes, else read from `fd` (the model file,
 * `shownPath` in messages; undefined where every job carries its bytes).
 */
export function convertChunk(job: ChunkJob, fd: number | undefined, shownPath: string): Uint8Array {
  const { numCols, outputType: type } = job;
  if (job.values) return nativeQuantizeRows(type, job.values, numCols) ?? codecFor(type)!.quantize(job.values);
  const bytes = job.bytes ? job.bytes.slice() : readRows(job, fd, shownPath); // a copy of its own: scaled in place below
  if (type === job.inputType && !job.columnScales) return bytes;
  const values = job.numRows * numCols;
  // [rows, numCols] f32
  const f32 = job.inputType === GgmlType.F32 ? new Float32Array(bytes.buffer, 0, values) : new Float32Array(values);
  if (job.inputType !== GgmlType.F32) codecFor(job.inputType)!.dequantize(bytes, 0, values, f32);
  const scales = job.columnScales;
  if (scales) for (let i = 0; i < values; i++) f32[i] = f32[i]! * scales[i % numCols]!;
  const out = quantizeRows(type, f32, numCols, job.importance);
  if (out.byteLength !== ggmlByteSize(type, values)) throw new Error(`invariant failed: ${ggmlTypeName(type)} codec wrote ${out.byteLength} bytes for ${values} values`);
  return out;
}

/**
 * Rows of numCols values in `type`: with importance weights, by the type's weighted quantizer
 * where it has one; NVFP4 otherwise by its searched scales (quantizeNvfp4Searched, every column
 * equally important); else by its codec. The native quantizers where the addon has the type, else
 * the TypeScript ones: the same bytes.
 */
function quantizeRows(type: GgmlType, f32: Float32Array, numCols: number, importance: Float32Array | undefined): Uint8Array {
  const weighted = importance && importanceQuantizer(type);
  if (weighted) return nativeQuantizeRows(type, f32, numCols, importance) ?? weighted(f32, numCols, importance);
  if (type === GgmlType.NVFP4) return nativeQuantizeRows(type, f32, numCols, new Float32Array(numCols).fill(1)) ?? quantizeNvfp4Searched(f32, numCols);
  return nativeQuantizeRows(type, f32, numCols) ?? codecFor(type)!.quantize(f32);
}

function readRows(job: ChunkJob, fd: number | undefined, shownPath: string): Uint8Array {
  if (fd === undefined) throw new Error(`invariant failed: no model file to read tensor '${job.tensorName}' from`);
  const bytes = new Uint8Array(job.inputBytes);
  if (readFully(fd, bytes, job.inputBytes, job.position, shownPath) < job.inputBytes) {
    throw new ModelLoadError('GGUF_TRUNCATED', `${shownPath}: file ended inside tensor '${untrustedText(job.tensorName)}' (did it change while being read?)`);
  }
  return bytes;
}
