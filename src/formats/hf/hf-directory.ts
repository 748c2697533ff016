import { closeSync, existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../../errors/untrusted-text.js';
import { bf16ToF32, f16ToF32 } from '../../quant/float16.js';
import { GgmlType, ggmlByteSize } from '../ggml-type.js';
import { gguf, readGguf, type GgufFile, type GgufTensorInfo, type GgufValue, type TensorSource } from '../gguf/index.js';
import { openModelFile, readFully } from '../model-file.js';
import { readSafetensors, readSafetensorsData, type SafetensorsFile, type SafetensorsTensorInfo } from '../safetensors/safetensors-reader.js';
import { convertFp8Weight, decodeScales, planFp8Weight, type Fp8WeightPlan } from './fp8-weights.js';
import { planHfArchitecture } from './hf-config.js';
import { mapHfTensorName, type HfTensorTransform } from './hf-tensor-names.js';
import { hfTokenizerMetadata } from './hf-tokenizer.js';

/** JSON files larger than this are refused unread (Gemma 3's tokenizer.json is 33 MB) */
const MAX_JSON_BYTES = 512 * 2 ** 20;

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

/** safetensors dtype → the GGUF type its bytes are as they are */
const DTYPE_TYPES: Readonly<Record<string, GgmlType>> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };

export interface HfDirectoryOptions {
  /**
   * where the vocabulary comes from when the directory has no tokenizer.json: a GGUF file (its
   * `tokenizer.*` metadata) or another Hugging Face directory / tokenizer.json. When the directory
   * has a tokenizer.json as well, this one wins.
   */
  readonly tokenizer?: string;
}

/** Reads and parses a JSON file of the directory, with typed errors. */
export function readJsonFile(path: string): unknown {
  const { fd, fileSize, shownPath } = openModelFile(path);
  try {
    if (fileSize > MAX_JSON_BYTES) throw new ModelLoadError('FILE_READ_FAILED', `${shownPath} is ${fileSize} bytes, above the ${MAX_JSON_BYTES}-byte limit for a JSON file`);
    const buf = Buffer.alloc(fileSize);
    readFully(fd, buf, fileSize, 0, shownPath);
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw new ModelLoadError('MISSING_METADATA', `${shownPath} is not valid JSON (${untrustedText((err as Error).message)})`, { cause: err });
    }
  } finally {
    closeSync(fd);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A tensor of the presented GGUF and where its bytes are. */
interface TensorEntry {
  readonly info: GgufTensorInfo;
  readonly shard?: SafetensorsFile;
  readonly stored?: SafetensorsTensorInfo;
  readonly transform: HfTensorTransform;
  /** an FP8 weight's conversion (its weight_scale read at open: a few bytes per row) */
  readonly fp8?: Fp8WeightPlan;
  /** a tensor computed from config.json */
  readonly values?: Float32Array;
}

/** the shards a directory's index names (file names inside the directory only), or [model.safetensors] */
function listShards(dir: string, shownDir: string): { shards: string[]; weightMap: Map<string, string> | undefined } {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    const index = readJsonFile(indexPath);
    const map = isObject(index) ? index['weight_map'] : undefined;
    if (!isObject(map)) throw new ModelLoadError('MISSING_METADATA', `${untrustedPath(indexPath)} has no weight_map object`);
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file !== basename(file) || file === '..' || !file.endsWith('.safetensors')) {
        throw new ModelLoadError('MISSING_METADATA', `${untrustedPath(indexPath)}: tensor '${untrustedText(name)}' is mapped to '${untrustedText(String(file))}', not a .safetensors file of the directory`);
      }
      weightMap.set(name, file);
    }
    return { shards: [...new Set(weightMap.values())].sort(), weightMap };
  }
  if (existsSync(join(dir, SINGLE_FILE))) return { shards: [SINGLE_FILE], weightMap: undefined };
  throw new ModelLoadError('FILE_NOT_FOUND', `${shownDir} has neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
}

/** `tokenizer.*` metadata: from the options' source, else the directory's tokenizer.json, else none */
function tokenizerMetadata(dir: string, config: Record<string, unknown>, vocabSize: number | undefined, source: string | undefined): Map<string, GgufValue> {
  const path = source ?? dir;
  if (source !== undefined && !source.endsWith('.json') && !isDirectory(source)) {
    const file = readGguf(source);
    return new Map([...file.metadata].filter(([key]) => key.startsWith('tokenizer.')));
  }
  const tokenizerPath = path.endsWith('.json') ? path : join(path, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) return new Map();
  const configPath = join(path.endsWith('.json') ? join(path, '..') : path, 'tokenizer_config.json');
  return hfTokenizerMetadata({
    tokenizer: readJsonFile(tokenizerPath),
    tokenizerConfig: existsSync(configPath) ? readJsonFile(configPath) : undefined,
    modelConfig: config,
    vocabSize,
    shownPath: untrustedPath(tokenizerPath),
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A Hugging Face model directory (config.json, model.safetensors or shards with
 * model.safetensors.index.json, tokenizer.json, tokenizer_config.json) presented as the GGUF
 * llama.cpp's convert_hf_to_gguf.py would write from it: the same metadata keys, llama.cpp's
 * tensor names and shapes, F32/F16/BF16 tensors in their own type. Only headers and JSON are read
 * here; each tensor's bytes are read from its shard when the model loads it (`tensorSource`), once,
 * straight into the buffer the model keeps, and converted there: llama's q/k rows reordered for
 * adjacent-pair rope (a head's rows at a time), Gemma's norms stored as 1 + w (as f32).
 */
export function readHfDirectory(dir: string, options: HfDirectoryOptions = {}): GgufFile {
  const shownDir = untrustedPath(dir);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) {
    throw new ModelLoadError('FILE_READ_FAILED', `${shownDir} is a directory, not a model file nor a Hugging Face model directory (it has no config.json)`);
  }
  const config = readJsonFile(configPath);
  if (!isObject(config)) throw new ModelLoadError('MISSING_METADATA', `${untrustedPath(configPath)} is not a JSON object`);
  const plan = planHfArchitecture(config, untrustedPath(configPath));

  const { shards, weightMap } = listShards(dir, shownDir);
  const entries = new Map<string, TensorEntry>();
  const storedNames = new Set<string>();
  let fileSize = 0;
  const all = new Map<string, { shard: SafetensorsFile; stored: SafetensorsTensorInfo }>();
  for (const shardName of shards) {
    const shard = readSafetensors(join(dir, shardName));
    fileSize += shard.fileSize;
    for (const stored of shard.tensors.values()) {
      storedNames.add(stored.name);
      if (weightMap && weightMap.get(stored.name) !== shardName) {
        const where = `${untrustedPath(shard.path)}: tensor '${untrustedText(stored.name)}'`;
        throw new ModelLoadError('SAFETENSORS_CORRUPT', `${where} is not where ${INDEX_FILE} puts it (${untrustedText(String(weightMap.get(stored.name) ?? 'nowhere'))})`);
      }
      all.set(stored.name, { shard, stored });
    }
  }
  for (const { shard, stored } of all.values()) {
    const where = `${untrustedPath(shard.path)}: tensor '${untrustedText(stored.name)}'`;
    // an FP8 weight's scales: weight_scale is read with its weight, input_scale is not used
    if (stored.name.endsWith('.input_scale') || (stored.name.endsWith('.weight_scale') && all.get(stored.name.slice(0, -'_scale'.length))?.stored.dtype === 'F8_E4M3')) continue;
    const mapped = mapHfTensorName(stored.name, plan);
    if (mapped === null) continue;
    const isFp8 = stored.dtype === 'F8_E4M3';
    const storedType = isFp8 ? GgmlType.BF16 : DTYPE_TYPES[stored.dtype];
    if (storedType === undefined) {
      const hint = stored.dtype.startsWith('F8') ? ' (FP8 checkpoints load as F8_E4M3 with a weight_scale)' : '';
      throw new ModelLoadError('UNSUPPORTED_TENSOR_TYPE', `${where} has dtype ${untrustedText(stored.dtype)}, which Peregrine does not support yet (F32, F16, BF16)${hint}`);
    }
    if (entries.has(mapped.name)) throw new ModelLoadError('SAFETENSORS_CORRUPT', `${where} maps to '${mapped.name}', which another tensor already has`);
    const fp8 = isFp8 ? fp8Plan(all.get(`${stored.name}_scale`), stored, mapped.transform, where) : undefined;
    const numElements = stored.shape.reduce((a, b) => a * b, 1);
    const type = mapped.transform.kind === 'addOne' ? GgmlType.F32 : (fp8?.type ?? storedType);
    const shape = stored.shape.length === 0 ? [1] : [...stored.shape].reverse();
    entries.set(mapped.name, {
      info: { name: mapped.name, shape, type, fileOffset: stored.fileOffset, byteSize: ggmlByteSize(type, numElements), numElements },
      shard,
      stored,
      transform: mapped.transform,
      fp8,
    });
  }
  for (const [name, shardName] of weightMap ?? []) {
    if (!storedNames.has(name)) {
      throw new ModelLoadError('MISSING_TENSOR', `${shownDir}: ${INDEX_FILE} lists tensor '${untrustedText(name)}' in ${untrustedText(shardName)}, which does not have it`);
    }
  }
  for (const [name, values] of plan.extraTensors) {
    entries.set(name, {
      info: { name, shape: [values.length], type: GgmlType.F32, fileOffset: 0, byteSize: values.length * 4, numElements: values.length },
      transform: { kind: 'none' },
      values,
    });
  }

  const vocabSize = typeof config['vocab_size'] === 'number' ? config['vocab_size'] : undefined;
  const metadata = new Map<string, GgufValue>([
    ...plan.metadata,
    ['general.name', gguf.str(basename(dir))],
    ...tokenizerMetadata(dir, config, vocabSize, options.tokenizer),
  ]);
  const tensorSource: TensorSource = { read: (info) => readEntry(entries.get(info.name)!) };
  return {
    path: dir,
    version: 3,
    metadata,
    tensors: [...entries.values()].map((e) => e.info),
    alignment: 32,
    dataOffset: 0,
    fileSize,
    tensorSource,
  };
}

/** an F8_E4M3 weight's conversion, from its weight_scale (`scale`, absent: refused by name) */
function fp8Plan(scale: { shard: SafetensorsFile; stored: SafetensorsTensorInfo } | undefined, stored: SafetensorsTensorInfo, transform: HfTensorTransform, where: string): Fp8WeightPlan {
  if (!scale) throw new ModelLoadError('UNSUPPORTED_TENSOR_TYPE', `${where} has dtype F8_E4M3 but no ${untrustedText(stored.name)}_scale (FP8 checkpoints load with a per-tensor or per-row weight_scale)`);
  if (stored.shape.length !== 2 || transform.kind === 'addOne') throw new ModelLoadError('UNSUPPORTED_TENSOR_TYPE', `${where}: only 2-D FP8 weights are supported (it has shape [${stored.shape}])`);
  const scales = decodeScales(readSafetensorsData(scale.shard, scale.stored), scale.stored.dtype, where);
  return planFp8Weight(stored.shape[0]!, stored.shape[1]!, scales, where);
}

/** one tensor's bytes in its presented GGUF type and layout */
function readEntry(entry: TensorEntry): Uint8Array {
  if (entry.values) return new Uint8Array(entry.values.slice().buffer);
  let bytes = readSafetensorsData(entry.shard!, entry.stored!);
  // (converted before a permutation: it moves whole rows, each with its scale)
  if (entry.fp8) bytes = convertFp8Weight(bytes, entry.stored!.shape[0]!, entry.stored!.shape[1]!, entry.fp8);
  const t = entry.transform;
  if (t.kind === 'permuteHeads') permuteHeads(bytes, entry.stored!, t.numHeads, entry.shard!.path);
  if (t.kind === 'addOne') return addOne(bytes, entry.stored!.dtype);
  return bytes;
}

/**
 * llama.cpp's LlamaModel.permute, in place: in each head of d rows, GGUF row 2i + p is HF row
 * p·d/2 + i (HF's rotate-half rope pairs x[i] with x[i + d/2]; GGUF's adjacent-pair rope pairs
 * x[2i] with x[2i+1]). Works on a weight [rows, cols] and a bias [rows] alike; one head's bytes of
 * scratch.
 */
function permuteHeads(bytes: Uint8Array, stored: SafetensorsTensorInfo, numHeads: number, path: string): void {
  const numRows = stored.shape[0] ?? 1;
  const headDim = numRows / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `${untrustedPath(path)}: tensor '${untrustedText(stored.name)}' has ${numRows} rows, not ${numHeads} heads of an even size`);
  }
  const rowBytes = bytes.length / numRows;
  const headBytes = headDim * rowBytes;
  const half = headDim / 2;
  const scratch = new Uint8Array(headBytes);
  for (let h = 0; h < numHeads; h++) {
    const head = bytes.subarray(h * headBytes, (h + 1) * headBytes);
    scratch.set(head);
    for (let r = 0; r < headDim; r++) {
      const source = (r & 1) * half + (r >> 1);
      head.set(scratch.subarray(source * rowBytes, (source + 1) * rowBytes), r * rowBytes);
    }
  }
}

/**
 * f32 of 1 + w, w decoded from F32, F16 or BF16 bytes, rounded once (llama.cpp's converter adds 1 to
 * an F16 norm in f16, so an F16 Gemma checkpoint's GGUF norms can differ from these by an f16 ulp)
 */
function addOne(bytes: Uint8Array, dtype: string): Uint8Array {
  if (dtype === 'F32') {
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    for (let i = 0; i < values.length; i++) values[i] = values[i]! + 1;
    return bytes;
  }
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  const decode = dtype === 'BF16' ? bf16ToF32 : f16ToF32;
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = decode(halves[i]!) + 1;
  return new Uint8Array(out.buffer);
}
