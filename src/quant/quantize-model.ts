/**
 * Quantizes a GGUF model file (F32/F16/BF16 weights), or a Hugging Face directory presented as the
 * GGUF llama.cpp's converter would write from it (readModel), to a format, as llama-quantize does: the same
 * tensor types per tensor (src/quant/tensor-type-rules.ts), the same bytes per block (the codecs
 * are ggml's reference quantizers), general.file_type and general.quantization_version set as it
 * sets them, tensors written in its order.
 *
 * Streaming: tensors are read, converted and written in chunks of rows (at most CHUNK_ELEMENTS
 * values, tensor-chunks.ts). With `threads` above 1, worker threads convert chunks in parallel
 * (chunk-pool.ts) while this thread writes them in order, at most 2 × threads chunks converted or
 * being converted and not yet written (a chunk being converted holds its input bytes, 4 MiB of f32
 * at most and its output; a converted one its output only: under 16 MiB a thread in all, besides
 * each worker's own heap); with 1, one chunk at a time on this thread. Either way memory stays flat
 * whatever the model's size, and the bytes are the same. A Hugging Face directory's tensors are read
 * whole on this thread (through its tensorSource, converted there: q/k row order, Gemma's norms,
 * FP8 scales), one tensor at a time, and their chunks sent with their bytes to the same workers. The file is written beside the output
 * under a temporary name and renamed into place only when complete; on an error or an abort the
 * temporary file is removed and nothing is left at the output path.
 *
 * With a calibration text (calibration.ts) the 4-bit types are quantized with the activation
 * statistics the model shows on it (importance-weighted rounding, AWQ-style scales folded into the
 * norms), and Q5_0, Q5_K and Q6_K with importance-weighted rounding; without one the bytes are
 * llama-quantize's, except NVFP4's, which llama-quantize does not write: its sub-block scales are
 * searched for the least squared error (importance-quantizers.ts, quantizeNvfp4Searched).
 */
import { availableParallelism } from 'node:os';
import { closeSync, fstatSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../errors/untrusted-text.js';
import { GgmlType, ggmlTypeName, ggmlTypeTraits } from '../formats/ggml-type.js';
import { encodeGgufHeader, gguf, GgufValueType, MetadataReader, type GgufFile, type GgufTensorInfo, type GgufValue } from '../formats/gguf/index.js';
import { openModelFile } from '../formats/model-file.js';
import { readModel } from '../formats/read-model.js';
import { calibrate, type Calibration } from './calibration.js';
import { ChunkPool, convertInOrder } from './chunk-pool.js';
import { codecFor } from './index.js';
import { convertChunk, tensorChunks, type ChunkJob } from './tensor-chunks.js';
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
  /** for a Hugging Face directory without tokenizer.json: where its vocabulary comes from (ReadModelOptions) */
  readonly tokenizer?: string;
  /**
   * threads converting chunks (default: the cores, availableParallelism()): above 1, that many
   * worker threads convert chunks while this thread writes them in order; 1 converts them on this
   * thread. The bytes written are the same either way.
   */
  readonly threads?: number;
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
/** input types a tensor can be quantized from */
const SOURCE_TYPES: ReadonlySet<GgmlType> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);
/** metadata llama-quantize drops: a quantized file is one file */
const SPLIT_KEYS = ['split.no', 'split.count', 'split.tensors.count'];

/** Quantizes `inputPath` to `outputPath` in `options.format`; see the module comment. */
export async function quantizeModelFile(inputPath: string, outputPath: string, options: QuantizeModelOptions): Promise<QuantizeModelReport> {
  const format = resolveQuantFormat(options.format);
  const keep = compileKeepPatterns(options.keep ?? []);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `threads must be a positive integer (got ${threads})`);
  options.signal?.throwIfAborted();
  const file = readModel(inputPath, { tokenizer: options.tokenizer });
  if (file.tensorSource && !file.metadata.has('tokenizer.ggml.model')) {
    // the GGUF would have no vocabulary: nothing could load it
    throw new InvalidRequestError('INVALID_ARGUMENT', `${untrustedPath(inputPath)} has no tokenizer.json; name one with the tokenizer option (--tokenizer PATH)`);
  }
  refuseSamePath(inputPath, outputPath);
  const infos = new Map(file.tensors.map((t) => [t.name, t]));
  const plan = planTensorTypes(modelTypeInput(file), file.tensors, format, keep);
  for (const p of plan) checkConvertible(infos.get(p.name)!, p.type, format);
  const calibration = options.calibrationText === undefined
    ? undefined
    : await calibrate(inputPath, file, plan, options.calibrationText, {
      onProgress: options.onCalibrationProgress,
      signal: options.signal,
      ...(options.tokenizer !== undefined && { tokenizer: options.tokenizer }),
    });

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
  const source = file.tensorSource ? { fd: undefined, shownPath: untrustedPath(inputPath) } : openModelFile(inputPath);
  let pool: ChunkPool | undefined;
  const stopPool = (): void => void pool?.close(); // the chunks waiting on it reject; the signal's reason is thrown below
  options.signal?.addEventListener('abort', stopPool, { once: true });
  let out: number | undefined;
  try {
    const threadPool = threads > 1 ? new ChunkPool(threads, source.fd, source.shownPath) : undefined;
    pool = threadPool;
    out = openOutput(tempPath, outputPath);
    writeAll(out, header.bytes);
    let outputTensorBytes = 0;
    let tensorBytes = 0;
    let doneBytes = 0;
    const zeros = new Uint8Array(header.alignment);
    const jobs = (function* (): Generator<ChunkJob> {
      for (const p of plan) {
        const info = infos.get(p.name)!;
        const tensorCalibration = calibration?.tensors.get(p.name);
        // a directory's tensor is read whole (unless calibration gave its values)
        const bytes = file.tensorSource && !tensorCalibration?.values ? file.tensorSource.read(info) : undefined;
        yield* tensorChunks(info, p.type, tensorCalibration, bytes);
      }
    })();
    const convert = threadPool
      ? (job: ChunkJob) => threadPool.convert(job)
      : (job: ChunkJob) => new Promise<Uint8Array>((resolve) => resolve(convertChunk(job, source.fd, source.shownPath)));
    // at most 2 chunks per thread converted or being converted and not yet written: memory stays bounded
    for await (const { job, bytes } of convertInOrder(jobs, convert, threadPool ? 2 * threads : 1)) {
      options.signal?.throwIfAborted();
      writeAll(out, bytes);
      tensorBytes += bytes.byteLength;
      doneBytes += job.inputBytes;
      if (job.isLast) {
        const pad = (header.alignment - (tensorBytes % header.alignment)) % header.alignment;
        if (pad) writeAll(out, zeros.subarray(0, pad));
        outputTensorBytes += tensorBytes;
        tensorBytes = 0;
      }
      options.onProgress?.(doneBytes, totalBytes, job.tensorName);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let signals, timers and the progress bar run
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
    throw options.signal?.aborted ? options.signal.reason : err;
  } finally {
    options.signal?.removeEventListener('abort', stopPool);
    await pool?.close(); // before the descriptor the workers read is closed
    if (source.fd !== undefined) closeSync(source.fd);
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
