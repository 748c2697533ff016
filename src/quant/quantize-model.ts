/**
 * Quantizes a GGUF model file (F32/F16/BF16 weights) to a format, as llama-quantize does: the same
 * tensor types per tensor (src/quant/tensor-type-rules.ts), the same bytes per block (the codecs
 * are ggml's reference quantizers), general.file_type and general.quantization_version set as it
 * sets them, tensors written in its order.
 *
 * Streaming: one chunk of rows (at most CHUNK_ELEMENTS values) is read, converted and written at a
 * time, so memory stays flat whatever the model's size. The file is written beside the output
 * under a temporary name and renamed into place only when complete; on an error or an abort the
 * temporary file is removed and nothing is left at the output path.
 *
 * With a calibration text (calibration.ts) the 4-bit types are quantized with the activation
 * statistics the model shows on it (importance-weighted rounding, AWQ-style scales folded into the
 * norms), and Q5_0, Q5_K and Q6_K with importance-weighted rounding; without one the bytes are
 * llama-quantize's, except NVFP4's, which llama-quantize does not write: its sub-block scales are
 * searched for the least squared error (importance-quantizers.ts, quantizeNvfp4Searched).
 */
import { closeSync, fstatSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../errors/untrusted-text.js';
import { GgmlType, ggmlByteSize, ggmlTypeName, ggmlTypeTraits } from '../formats/ggml-type.js';
import { encodeGgufHeader, gguf, GgufValueType, MetadataReader, readGguf, type GgufFile, type GgufTensorInfo, type GgufValue } from '../formats/gguf/index.js';
import { openModelFile, readFully } from '../formats/model-file.js';
import { calibrate, type Calibration, type TensorCalibration } from './calibration.js';
import { codecFor } from './index.js';
import { importanceQuantizer, quantizeNvfp4Searched } from './importance-quantizers.js';
import { resolveQuantFormat, type QuantFormat } from './quant-format.js';
import { compileKeepPatterns, planTensorTypes, type ModelTypeInput, type TensorTypeReason } from './tensor-type-rules.js';

export interface QuantizeModelOptions {
  /** a format name as llama-quantize names it: 'Q8_0', 'Q4_0', 'Q4_K' (= Q4_K_M), 'Q6_K', 'MXFP4', ... (see quantFormats()) */
  readonly format: string;
  /** regular expressions searched in tensor names: matching tensors keep their input type */
  readonly keep?: readonly string[];
  /**
   * a text to calibrate on (calibration.ts): the 4-bit types (Q4_0, Q4_K, MXFP4, NVFP4) are then
   * quantized with its activation statistics, and Q5_0, Q5_K and Q6_K rounded with them; other
   * types are unchanged
   */
  readonly calibrationText?: string;
  /** called after each calibration window: windows done, windows in all */
  readonly onCalibrationProgress?: (done: number, total: number) => void;
  /** called after every chunk written: input bytes consumed so far, of all tensors' input bytes */
  readonly onProgress?: (doneBytes: number, totalBytes: number, tensorName: string) => void;
  /** aborting stops between chunks, removes the temporary file and rejects with the signal's reason */
  readonly signal?: AbortSignal;
}

export interface QuantizedTensorReport {
  readonly name: string;
  /** ggml order */
  readonly shape: readonly number[];
  readonly inputType: string;
  readonly outputType: string;
  readonly reason: TensorTypeReason;
}

export interface QuantizeModelReport {
  readonly inputPath: string;
  readonly outputPath: string;
  /** the format's llama-quantize name */
  readonly format: string;
  /** general.file_type written (llama_ftype) */
  readonly fileType: number;
  /** file sizes */
  readonly inputBytes: number;
  readonly outputBytes: number;
  /** tensor data only (bits per weight: 8 × these / numElements) */
  readonly inputTensorBytes: number;
  readonly outputTensorBytes: number;
  /** elements of all tensors */
  readonly numElements: number;
  /** tensors in the order written */
  readonly tensors: readonly QuantizedTensorReport[];
  /** tensors whose row length did not fit the chosen type (llama-quantize's fallback) */
  readonly numFallbacks: number;
  /** with a calibration text: what it changed */
  readonly calibration?: CalibrationReport;
}

export interface CalibrationReport {
  readonly numTokens: number;
  readonly numWindows: number;
  /** tensors quantized with importance weights (4-bit types only) */
  readonly numWeighted: number;
  /** norms whose matrices were scaled, with α (0: searched, left unscaled) */
  readonly groups: readonly { readonly norm: string; readonly alpha: number; readonly errorUnscaled: number; readonly errorScaled: number }[];
}

/** general.quantization_version: ggml's GGML_QNT_VERSION */
export const GGML_QNT_VERSION = 2;
/** values converted and quantized at a time (4 MiB as f32) */
const CHUNK_ELEMENTS = 1 << 20;
/** input types a tensor can be quantized from */
const SOURCE_TYPES: ReadonlySet<GgmlType> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);
/** metadata llama-quantize drops: a quantized file is one file */
const SPLIT_KEYS = ['split.no', 'split.count', 'split.tensors.count'];

/** Quantizes `inputPath` to `outputPath` in `options.format`; see the module comment. */
export async function quantizeModelFile(inputPath: string, outputPath: string, options: QuantizeModelOptions): Promise<QuantizeModelReport> {
  const format = resolveQuantFormat(options.format);
  const keep = compileKeepPatterns(options.keep ?? []);
  options.signal?.throwIfAborted();
  const file = readGguf(inputPath);
  refuseSamePath(inputPath, outputPath);
  const infos = new Map(file.tensors.map((t) => [t.name, t]));
  const plan = planTensorTypes(modelTypeInput(file), file.tensors, format, keep);
  for (const p of plan) checkConvertible(infos.get(p.name)!, p.type, format);
  const calibration = options.calibrationText === undefined
    ? undefined
    : await calibrate(inputPath, file, plan, options.calibrationText, { onProgress: options.onCalibrationProgress, signal: options.signal });

  const metadata = new Map<string, GgufValue>(file.metadata);
  for (const key of SPLIT_KEYS) metadata.delete(key);
  // as gguf_set_val_u32: a key set again moves to the end (so the header matches llama-quantize's byte for byte)
  for (const [key, value] of [['general.quantization_version', gguf.u32(GGML_QNT_VERSION)], ['general.file_type', gguf.u32(format.fileType)]] as const) {
    metadata.delete(key);
    metadata.set(key, value);
  }
  const header = encodeGgufHeader({
    metadata,
    tensors: plan.map((p) => ({ name: p.name, shape: infos.get(p.name)!.shape, type: p.type })),
    alignment: file.alignment,
    version: 3,
  });

  const tempPath = join(dirname(outputPath), `.${basename(outputPath)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const totalBytes = file.tensors.reduce((sum, t) => sum + t.byteSize, 0);
  const source = openModelFile(inputPath);
  let out: number | undefined;
  try {
    out = openOutput(tempPath, outputPath);
    writeAll(out, header.bytes);
    let outputTensorBytes = 0;
    let doneBytes = 0;
    const zeros = new Uint8Array(header.alignment);
    for (const p of plan) {
      const info = infos.get(p.name)!;
      let tensorBytes = 0;
      for (const chunk of tensorChunks(info, p.type, source.fd, source.shownPath, calibration?.tensors.get(p.name))) {
        options.signal?.throwIfAborted();
        const bytes = chunk.convert();
        writeAll(out, bytes);
        tensorBytes += bytes.byteLength;
        doneBytes += chunk.inputBytes;
        options.onProgress?.(doneBytes, totalBytes, p.name);
        await new Promise<void>((resolve) => setImmediate(resolve)); // let signals, timers and the progress bar run
      }
      const pad = (header.alignment - (tensorBytes % header.alignment)) % header.alignment;
      if (pad) writeAll(out, zeros.subarray(0, pad));
      outputTensorBytes += tensorBytes;
    }
    options.signal?.throwIfAborted();
    const outputBytes = fstatSync(out).size;
    closeSync(out);
    out = undefined;
    renameSync(tempPath, outputPath);
    return {
      inputPath,
      outputPath,
      format: format.name,
      fileType: format.fileType,
      inputBytes: file.fileSize,
      outputBytes,
      inputTensorBytes: totalBytes,
      outputTensorBytes,
      numElements: file.tensors.reduce((sum, t) => sum + t.numElements, 0),
      tensors: plan.map((p) => {
        const info = infos.get(p.name)!;
        return { name: p.name, shape: info.shape, inputType: ggmlTypeName(info.type), outputType: ggmlTypeName(p.type), reason: p.reason };
      }),
      numFallbacks: plan.filter((p) => p.reason === 'fallback').length,
      ...(calibration && { calibration: calibrationReport(calibration) }),
    };
  } catch (err) {
    if (out !== undefined) closeSync(out);
    rmSync(tempPath, { force: true });
    throw err;
  } finally {
    closeSync(source.fd);
  }
}

interface TensorChunk {
  /** input bytes this chunk covers */
  readonly inputBytes: number;
  /** reads the chunk's rows and returns them in the output type */
  convert(): Uint8Array;
}

/**
 * The chunks of whole rows of one tensor: copied as they are, or read as f32 and quantized to
 * `type`; with `calibration`, its values replace the tensor's, its column scales multiply the rows
 * and its importance weights the quantizer.
 */
function* tensorChunks(info: GgufTensorInfo, type: GgmlType, fd: number, shownPath: string, calibration?: TensorCalibration): Generator<TensorChunk> {
  const numCols = info.shape[0]!;
  const numRows = info.numElements / numCols;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / numCols));
  const inRowBytes = info.byteSize / numRows;
  for (let row = 0; row < numRows; row += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, numRows - row);
    const inputBytes = rows * inRowBytes;
    const position = info.fileOffset + row * inRowBytes;
    const read = (): Uint8Array => {
      const bytes = new Uint8Array(inputBytes);
      if (readFully(fd, bytes, inputBytes, position, shownPath) < inputBytes) {
        throw new ModelLoadError('GGUF_TRUNCATED', `${shownPath}: file ended inside tensor '${untrustedText(info.name)}' (did it change while being read?)`);
      }
      return bytes;
    };
    const replaced = calibration?.values;
    if (replaced) {
      yield { inputBytes, convert: () => codecFor(type)!.quantize(replaced.subarray(row * numCols, (row + rows) * numCols)) };
      continue;
    }
    if (type === info.type && !calibration?.columnScales) {
      yield { inputBytes, convert: read };
      continue;
    }
    yield {
      inputBytes,
      convert(): Uint8Array {
        const bytes = read();
        const values = rows * numCols;
        // [rows, numCols] f32
        const f32 = info.type === GgmlType.F32 ? new Float32Array(bytes.buffer, 0, values) : new Float32Array(values);
        if (info.type !== GgmlType.F32) codecFor(info.type)!.dequantize(bytes, 0, values, f32);
        const scales = calibration?.columnScales;
        if (scales) for (let i = 0; i < values; i++) f32[i] = f32[i]! * scales[i % numCols]!;
        const weighted = calibration?.importance && importanceQuantizer(type);
        const out = weighted
          ? weighted(f32, numCols, calibration.importance!)
          : type === GgmlType.NVFP4 ? quantizeNvfp4Searched(f32, numCols) : codecFor(type)!.quantize(f32);
        if (out.byteLength !== ggmlByteSize(type, values)) throw new Error(`invariant failed: ${ggmlTypeName(type)} codec wrote ${out.byteLength} bytes for ${values} values`);
        return out;
      },
    };
  }
}

function calibrationReport(c: Calibration): CalibrationReport {
  return {
    numTokens: c.numTokens,
    numWindows: c.numWindows,
    numWeighted: c.numWeighted,
    groups: c.groups.map((g) => ({ norm: g.norm, alpha: g.alpha, errorUnscaled: g.errorUnscaled, errorScaled: g.errorScaled })),
  };
}

/** Refuses a tensor the plan would convert from a type that cannot be read as f32, or to a type without a codec. */
function checkConvertible(info: GgufTensorInfo, type: GgmlType, format: QuantFormat): void {
  if (type === info.type) return;
  const name = untrustedText(info.name);
  if (!SOURCE_TYPES.has(info.type)) {
    if (ggmlTypeTraits(info.type)?.isQuantized) {
      throw new InvalidRequestError(
        'ALREADY_QUANTIZED',
        `tensor '${name}' is already quantized (${ggmlTypeName(info.type)}); quantize from a GGUF in F32, F16 or BF16 (requantizing loses accuracy twice)`,
      );
    }
    throw new InvalidRequestError('UNSUPPORTED_TENSOR_TYPE', `tensor '${name}' is ${ggmlTypeName(info.type)}; only F32, F16 and BF16 tensors can be quantized`);
  }
  if (!codecFor(type)) {
    throw new InvalidRequestError(
      'UNSUPPORTED_TENSOR_TYPE',
      `tensor '${name}' [${info.shape}] would be ${ggmlTypeName(type)} in ${format.name} (llama-quantize's choice for its shape), which Peregrine cannot write`,
    );
  }
}

/** Creates the temporary file beside the output; a folder that is missing or not writable is the caller's to fix. */
function openOutput(tempPath: string, outputPath: string): number {
  try {
    return openSync(tempPath, 'wx');
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split(', ')[0]!; // without the raw path Node appends
    throw new InvalidRequestError('INVALID_ARGUMENT', `cannot write ${untrustedPath(outputPath)}: ${reason}`, { cause: err });
  }
}

function refuseSamePath(inputPath: string, outputPath: string): void {
  let same = false;
  try {
    same = realpathSync(inputPath) === realpathSync(outputPath);
  } catch {
    // the output does not exist yet
  }
  if (same) throw new InvalidRequestError('INVALID_ARGUMENT', `the output ${untrustedPath(outputPath)} is the input file`);
}

/** A number from the metadata, the first element of a per-layer array, or 0 when absent. */
function metadataCount(file: GgufFile, key: string): number {
  const v = file.metadata.get(key);
  if (v === undefined) return 0;
  if (v.type === GgufValueType.ARRAY) return v.value.length > 0 ? Number(v.value[0]) : 0;
  return typeof v.value === 'string' || typeof v.value === 'boolean' ? 0 : Number(v.value);
}

function modelTypeInput(file: GgufFile): ModelTypeInput {
  const architecture = new MetadataReader(file.metadata, file.path).string('general.architecture');
  return {
    architecture,
    numLayers: metadataCount(file, `${architecture}.block_count`),
    numExperts: metadataCount(file, `${architecture}.expert_count`),
    numHeads: metadataCount(file, `${architecture}.attention.head_count`),
    numKvHeads: metadataCount(file, `${architecture}.attention.head_count_kv`),
  };
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done);
}
