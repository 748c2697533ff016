/**
 * Writes seeded random Llama-family models as GGUF files that llama.cpp loads (arch `llama`, or
 * `qwen2` / `qwen3` / `gemma2` / `gemma3` / `phi3` by the shape's architecture): the metadata and tensor names of a converted
 * checkpoint, in any supported weight type. Used for tests and for benchmarks at real model sizes
 * without downloading weights.
 *
 * Weights are N(0, σ²) with σ chosen so activations stay O(1) through depth and logits have a
 * spread of a few units, so greedy decoding is varied rather than one token forever:
 *   q/k/v, gate/up:          σ = 1/√fanIn
 *   attn_output, ffn_down:   σ = 6/√(fanIn · 2·numLayers)   (residual stream rms ≈ 3 at any depth)
 *   token_embd, output:      σ = 1/√dim, each row rescaled to exactly that rms;
 *                            rows of special tokens × 0.25 (they rarely win argmax)
 *   attn_{q,k,v}.bias:       0.1·N(0, 1), f32 (qwen2; a v bias adds the same vector to every
 *                            attention output, so a larger one makes greedy loop on one token)
 *   attn_norm, ffn_norm,
 *   attn_{q,k}_norm:         1 + 0.05·N(0, 1) (the last two qwen3 and gemma3, [headDim])
 *   post_attention_norm,
 *   post_ffw_norm:           √dim · (1 + 0.05·N(0, 1))        (gemma2, gemma3; see planTensors)
 *   output_norm:             4 · (1 + 0.05·N(0, 1))           (logit std ≈ 4)
 * Why: with tied embeddings a token's own embedding in the residual stream biases the logits
 * towards itself (by ≈ 4/rms(residual) here), so the embeddings are kept small against the
 * layer outputs and the logit scale sits in output_norm; equal row norms keep any one token from
 * being a hub that wins everywhere. Random models still fall into short loops after a few dozen
 * greedy tokens, as trained ones do; the very small shapes (dim 64) loop sooner.
 * Each tensor has its own stream (seed, tensor name), so values do not depend on the weight type:
 * the same seed in F16 and Q4_0 gives the same model up to quantization error.
 */
import { statSync } from 'node:fs';
import { InvalidRequestError } from '../errors/engine-error.js';
import { GGML_TYPE_TRAITS, GgmlType, ggmlByteSize, ggmlTypeName, ggmlTypeTraits, type GgmlModelTypeName } from '../formats/ggml-type.js';
import { gguf, writeGguf, type GgufTensorSpec, type GgufValue } from '../formats/gguf/index.js';
import { codecFor, type KQuantEffort } from '../quant/index.js';
import { Rng } from '../util/rng.js';
import { llama3RopeFactors } from '../formats/hf/rope-scaling.js';
import { countModelParams, resolveModelShape, type Llama3RopeScaling, type LongRopeScaling, type ModelShape, type ModelShapeName } from './model-shapes.js';
import { buildSyntheticVocab, type SyntheticVocabSpec } from './synthetic-vocab.js';

/** A single tensor type for all matrices (any type with a codec and a llama_ftype), or one of llama-quantize's "mostly" mixes. */
export type SyntheticWeightType = GgmlModelTypeName | MixName;

type MixName = 'Q4_K_M' | 'Q5_K_M';

export interface SyntheticModelOptions {
  readonly shape: ModelShapeName | ModelShape;
  /** type of the 2D weights (default F16); norms and rope_freqs are always F32 */
  readonly weightType?: SyntheticWeightType;
  /** type of token_embd.weight (default: from weightType) */
  readonly embeddingType?: GgmlType;
  /** type of output.weight when untied (default: from weightType) */
  readonly outputType?: GgmlType;
  readonly seed?: number;
  /** `<arch>.context_length`, in tokens (default: the shape's) */
  readonly contextLength?: number;
  /** default: the shape's */
  readonly hasTiedEmbeddings?: boolean;
  /** default: the shape's vocabKind; `copyFrom` takes the vocab size from that file */
  readonly vocab?: SyntheticVocabSpec;
  /** general.name */
  readonly name?: string;
  /** k-quant scale search (default 'fast'; 'reference' is ggml's exact, ~10× slower) */
  readonly quantEffort?: KQuantEffort;
}

export interface SyntheticTensorInfo {
  readonly name: string;
  /** ggml order: shape[0] is contiguous */
  readonly shape: readonly number[];
  readonly type: GgmlType;
}

export interface SyntheticModelInfo {
  readonly path: string;
  /** the shape as written: vocab size, context length and tying after options */
  readonly shape: ModelShape;
  readonly numParams: number;
  readonly fileBytes: number;
  /** general.file_type (llama_ftype) */
  readonly fileType: number;
  readonly tensors: readonly SyntheticTensorInfo[];
}

interface WeightTypePlan {
  readonly base: GgmlType;
  /** llama_ftype written as general.file_type */
  readonly fileType: number;
  readonly isMix: boolean;
}

/** llama-quantize's mixes: Q6_K for the output and, in some layers, attn_v and ffn_down */
const MIXES: Record<MixName, WeightTypePlan> = {
  Q4_K_M: { base: GgmlType.Q4_K, fileType: 15, isMix: true },
  Q5_K_M: { base: GgmlType.Q5_K, fileType: 17, isMix: true },
};

/** Every weightType, in GgmlType order then the mixes (the type table's rows with a codec and a llama_ftype). */
export const SYNTHETIC_WEIGHT_TYPES: readonly SyntheticWeightType[] = [
  ...GGML_TYPE_TRAITS.filter((t) => t.hasCodec && t.fileType !== undefined).map((t) => t.name as GgmlModelTypeName),
  ...(Object.keys(MIXES) as MixName[]),
];

function weightTypePlan(name: string): WeightTypePlan | undefined {
  if (Object.hasOwn(MIXES, name)) return MIXES[name as MixName];
  const traits = GGML_TYPE_TRAITS.find((t) => t.name === name);
  if (!traits?.hasCodec || traits.fileType === undefined) return undefined;
  return { base: traits.type, fileType: traits.fileType, isMix: false };
}

const LOGIT_STD = 4;
const RESIDUAL_GAIN = 6;
const NORM_NOISE = 0.05;
const BIAS_STD = 0.1;
const SPECIAL_ROW_SCALE = 0.25;

/** elements generated and encoded at a time */
const CHUNK_ELEMENTS = 1 << 20;

type TensorRole = 'token_embd' | 'output' | 'attn_v' | 'ffn_down' | 'matrix';

/** How a tensor's values are produced. */
type TensorInit =
  | {
      readonly kind: 'gaussian';
      readonly std: number;
      /** rescale every row to rms exactly `std` (no row stands out by its norm) */
      readonly isRowNormalized?: boolean;
      /** extra per-row factors, by row index */
      readonly rowScales?: ReadonlyMap<number, number>;
    }
  | { readonly kind: 'norm'; readonly scale: number }
  | { readonly kind: 'values'; readonly values: Float32Array };

interface TensorPlan extends SyntheticTensorInfo {
  readonly init: TensorInit;
}

/** The model writeSyntheticModel writes for `options`: its shape after the options, vocabulary, type plan and tensors. */
function planModel(options: SyntheticModelOptions) {
  const baseShape = resolveModelShape(options.shape);
  const seed = options.seed ?? 0;
  const vocab = buildSyntheticVocab(options.vocab ?? baseShape.vocabKind, baseShape.vocabSize, seed);
  const contextLength = options.contextLength ?? baseShape.contextLength;
  if (!Number.isInteger(contextLength) || contextLength <= 0) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `contextLength must be a positive integer (got ${contextLength})`);
  }
  const shape: ModelShape = {
    ...baseShape,
    vocabSize: vocab.vocabSize,
    contextLength,
    hasTiedEmbeddings: options.hasTiedEmbeddings ?? baseShape.hasTiedEmbeddings,
  };
  const plan = weightTypePlan(options.weightType ?? 'F16');
  if (!plan) throw new InvalidRequestError('INVALID_ARGUMENT', `unknown weightType '${options.weightType}'`);
  return { seed, vocab, shape, plan, tensors: planTensors(shape, plan, options, vocab.specialTokenIds) };
}

/** The tensors (names, shapes, types, in file order) writeSyntheticModel would write for `options`, without generating any values. */
export function syntheticTensorInfos(options: SyntheticModelOptions): SyntheticTensorInfo[] {
  return planModel(options).tensors.map(({ name, shape, type }) => ({ name, shape, type }));
}

/** Writes a synthetic GGUF to `path` (synchronously; tensors are generated one at a time). */
export function writeSyntheticModel(path: string, options: SyntheticModelOptions): SyntheticModelInfo {
  const { seed, vocab, shape, plan, tensors } = planModel(options);
  const effort = options.quantEffort ?? 'fast';

  const arch = shape.architecture ?? 'llama';
  const metadata: Record<string, GgufValue> = {
    'general.architecture': gguf.str(arch),
    'general.type': gguf.str('model'),
    'general.name': gguf.str(options.name ?? defaultName(shape.name)),
    'general.quantization_version': gguf.u32(2),
    'general.file_type': gguf.u32(plan.fileType),
    [`${arch}.context_length`]: gguf.u32(shape.contextLength),
    [`${arch}.embedding_length`]: gguf.u32(shape.dim),
    [`${arch}.block_count`]: gguf.u32(shape.numLayers),
    [`${arch}.feed_forward_length`]: gguf.u32(shape.ffnDim),
    [`${arch}.attention.head_count`]: gguf.u32(shape.numHeads),
    [`${arch}.attention.head_count_kv`]: gguf.u32(shape.numKvHeads),
    [`${arch}.rope.freq_base`]: gguf.f32(shape.ropeTheta),
    [`${arch}.attention.layer_norm_rms_epsilon`]: gguf.f32(shape.rmsNormEps),
    [`${arch}.attention.key_length`]: gguf.u32(shape.headDim),
    [`${arch}.attention.value_length`]: gguf.u32(shape.headDim),
    [`${arch}.rope.dimension_count`]: gguf.u32(shape.ropeDims ?? shape.headDim),
    [`${arch}.vocab_size`]: gguf.u32(shape.vocabSize),
    ...architectureMetadata(shape),
    ...vocab.metadata,
  };

  const specs: GgufTensorSpec[] = tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.type,
    data: () => generateTensor(t, seed, effort),
  }));
  writeGguf(path, { metadata, tensors: specs });
  return {
    path,
    shape,
    numParams: countModelParams(shape),
    fileBytes: statSync(path).size,
    fileType: plan.fileType,
    tensors: tensors.map(({ name, shape: s, type }) => ({ name, shape: s, type })),
  };
}

/**
 * `synthetic-<shape>`, with 'phi3' / 'phi-3' written 'phi': llama.cpp sets Phi-3's token attributes
 * when general.name contains either, and fails to load a vocab without Phi-3's <|endoftext|> (the
 * synthetic SPM vocab has Llama 2's tokens only).
 */
function defaultName(shapeName: string): string {
  return `synthetic-${shapeName.replace(/phi-?3/g, 'phi')}`;
}

/** The keys only some architectures have (Gemma's window, soft-caps, linear rope scaling). */
function architectureMetadata(shape: ModelShape): Record<string, GgufValue> {
  const arch = shape.architecture ?? 'llama';
  const out: Record<string, GgufValue> = {};
  if (shape.slidingWindow !== undefined) out[`${arch}.attention.sliding_window`] = gguf.u32(shape.slidingWindow);
  if (shape.attentionSoftcap !== undefined) out[`${arch}.attn_logit_softcapping`] = gguf.f32(shape.attentionSoftcap);
  if (shape.finalLogitSoftcap !== undefined) out[`${arch}.final_logit_softcapping`] = gguf.f32(shape.finalLogitSoftcap);
  if (shape.longRope) {
    out[`${arch}.rope.scaling.original_context_length`] = gguf.u32(shape.longRope.originalContextLength);
    out[`${arch}.rope.scaling.attn_factor`] = gguf.f32(longRopeAttnFactor(shape.contextLength, shape.longRope));
  }
  if (shape.ropeLinearFactor !== undefined) {
    out[`${arch}.rope.scaling.type`] = gguf.str('linear');
    out[`${arch}.rope.scaling.factor`] = gguf.f32(shape.ropeLinearFactor);
  }
  return out;
}

/** convert_hf_to_gguf.py's LongRoPE attention factor: √(1 + ln(scale) / ln(original)), 1 when not extended */
export function longRopeAttnFactor(contextLength: number, scaling: LongRopeScaling): number {
  const scale = contextLength / scaling.originalContextLength;
  return scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(scaling.originalContextLength)) : 1;
}

/**
 * Synthetic LongRoPE factors, [ropeDims / 2] each, shaped like Phi-3's: short ones near 1, long
 * ones rising geometrically from 1 (the fastest pairs) to 16 (the slowest), so that the two give
 * clearly different logits.
 */
export function longRopeFactors(ropeDims: number): { readonly short: Float32Array; readonly long: Float32Array } {
  const n = ropeDims / 2;
  return {
    short: Float32Array.from({ length: n }, (_, i) => 1 + (0.25 * i) / n),
    long: Float32Array.from({ length: n }, (_, i) => Math.pow(16, i / (n - 1))),
  };
}

/** Tensor names, shapes, types and initializers, in the order a converted file has them. */
function planTensors(shape: ModelShape, plan: WeightTypePlan, options: SyntheticModelOptions, specialTokenIds: readonly number[]): TensorPlan[] {
  const { dim, numLayers, ffnDim } = shape;
  const qDim = shape.numHeads * shape.headDim;
  const kvDim = shape.numKvHeads * shape.headDim;
  const residualStd = (fanIn: number): number => RESIDUAL_GAIN / Math.sqrt(fanIn * 2 * numLayers);
  const specialRows = new Map(specialTokenIds.map((id) => [id, SPECIAL_ROW_SCALE]));
  const typeFor = (role: TensorRole, rowLength: number, layer = 0): GgmlType =>
    chooseType(role, rowLength, layer, shape, plan, options);
  const tensors: TensorPlan[] = [];
  const matrix = (name: string, cols: number, rows: number, role: TensorRole, std: number, layer?: number): void => {
    tensors.push({ name, shape: [cols, rows], type: typeFor(role, cols, layer), init: { kind: 'gaussian', std } });
  };
  const norm = (name: string, scale = 1, length = dim): void => {
    tensors.push({ name, shape: [length], type: GgmlType.F32, init: { kind: 'norm', scale } });
  };
  const bias = (name: string, length: number): void => {
    tensors.push({ name, shape: [length], type: GgmlType.F32, init: { kind: 'gaussian', std: BIAS_STD } });
  };
  const arch = shape.architecture ?? 'llama';
  const isGemma = arch === 'gemma2' || arch === 'gemma3';
  // Gemma scales the embeddings by √dim, so with tied embeddings a token's own row would dominate
  // its logits (by ≈ 4·√dim / rms(residual)) unless the layers' outputs, whose scale the post-norms
  // set, are larger still: post-norm weights ≈ √dim
  const postNormScale = Math.sqrt(dim);

  if (shape.ropeScaling) {
    const values = llama3RopeFactors(shape.ropeTheta, shape.headDim, shape.ropeScaling);
    tensors.push({ name: 'rope_freqs.weight', shape: [values.length], type: GgmlType.F32, init: { kind: 'values', values } });
  }
  if (shape.longRope) {
    const { short, long } = longRopeFactors(shape.ropeDims ?? shape.headDim);
    tensors.push({ name: 'rope_factors_long.weight', shape: [long.length], type: GgmlType.F32, init: { kind: 'values', values: long } });
    tensors.push({ name: 'rope_factors_short.weight', shape: [short.length], type: GgmlType.F32, init: { kind: 'values', values: short } });
  }
  const isPhi3 = arch === 'phi3';
  const embeddingStd = 1 / Math.sqrt(dim);
  tensors.push({
    name: 'token_embd.weight',
    shape: [dim, shape.vocabSize],
    type: typeFor('token_embd', dim),
    init: { kind: 'gaussian', std: embeddingStd, isRowNormalized: true, ...(shape.hasTiedEmbeddings ? { rowScales: specialRows } : {}) },
  });
  for (let i = 0; i < numLayers; i++) {
    const blk = `blk.${i}`;
    norm(`${blk}.attn_norm.weight`);
    if (isPhi3) {
      // phi3's converted q, k and v: one matrix, q's rows then k's then v's
      matrix(`${blk}.attn_qkv.weight`, dim, qDim + 2 * kvDim, 'matrix', 1 / Math.sqrt(dim));
    } else {
      matrix(`${blk}.attn_q.weight`, dim, qDim, 'matrix', 1 / Math.sqrt(dim));
      matrix(`${blk}.attn_k.weight`, dim, kvDim, 'matrix', 1 / Math.sqrt(dim));
      matrix(`${blk}.attn_v.weight`, dim, kvDim, 'attn_v', 1 / Math.sqrt(dim), i);
    }
    if (arch === 'qwen2') {
      bias(`${blk}.attn_q.bias`, qDim);
      bias(`${blk}.attn_k.bias`, kvDim);
      bias(`${blk}.attn_v.bias`, kvDim);
    }
    if (arch === 'qwen3' || arch === 'gemma3') {
      norm(`${blk}.attn_q_norm.weight`, 1, shape.headDim);
      norm(`${blk}.attn_k_norm.weight`, 1, shape.headDim);
    }
    matrix(`${blk}.attn_output.weight`, qDim, dim, 'matrix', residualStd(qDim));
    if (isGemma) norm(`${blk}.post_attention_norm.weight`, postNormScale);
    norm(`${blk}.ffn_norm.weight`);
    if (isPhi3) {
      // phi3's gate and up: one ffn_up matrix of 2 · ffnDim rows, gate's first
      matrix(`${blk}.ffn_up.weight`, dim, 2 * ffnDim, 'matrix', 1 / Math.sqrt(dim));
    } else {
      matrix(`${blk}.ffn_gate.weight`, dim, ffnDim, 'matrix', 1 / Math.sqrt(dim));
      matrix(`${blk}.ffn_up.weight`, dim, ffnDim, 'matrix', 1 / Math.sqrt(dim));
    }
    matrix(`${blk}.ffn_down.weight`, ffnDim, dim, 'ffn_down', residualStd(ffnDim), i);
    if (isGemma) norm(`${blk}.post_ffw_norm.weight`, postNormScale);
  }
  norm('output_norm.weight', LOGIT_STD);
  if (!shape.hasTiedEmbeddings) {
    tensors.push({
      name: 'output.weight',
      shape: [dim, shape.vocabSize],
      type: typeFor('output', dim),
      init: { kind: 'gaussian', std: embeddingStd, isRowNormalized: true, rowScales: specialRows },
    });
  }
  return tensors;
}

/** Per-tensor type, following llama-quantize's rules for the Q4_K_M / Q5_K_M mixes. */
function chooseType(role: TensorRole, rowLength: number, layer: number, shape: ModelShape, plan: WeightTypePlan, options: SyntheticModelOptions): GgmlType {
  let type = plan.base;
  const isOutput = role === 'output' || (role === 'token_embd' && shape.hasTiedEmbeddings);
  if (plan.isMix) {
    // use_more_bits in llama-quant.cpp (integer division): first and last eighth of the layers, every third between
    const eighth = Math.trunc(shape.numLayers / 8);
    const useMoreBits = layer < eighth || layer >= Math.trunc((7 * shape.numLayers) / 8) || (layer - eighth) % 3 === 2;
    if (isOutput) type = GgmlType.Q6_K;
    else if ((role === 'attn_v' || role === 'ffn_down') && useMoreBits) type = GgmlType.Q6_K;
  }
  if (role === 'token_embd') type = options.embeddingType ?? (isOutput ? options.outputType : undefined) ?? type;
  if (role === 'output') type = options.outputType ?? type;
  if (!codecFor(type)) throw new InvalidRequestError('INVALID_ARGUMENT', `no codec for tensor type ${ggmlTypeName(type)}`);
  return fallbackType(type, rowLength);
}

/** A type whose block fits `rowLength` (llama-quantize falls back similarly; it uses Q5_0/Q5_1 for Q4_K/Q5_K). */
function fallbackType(type: GgmlType, rowLength: number): GgmlType {
  const { blockSize } = ggmlTypeTraits(type)!;
  if (rowLength % blockSize === 0) return type;
  if (blockSize > 32 && rowLength % 32 === 0) return GgmlType.Q8_0;
  return GgmlType.F16;
}

/** Generates and encodes one tensor, a chunk of rows at a time. */
function generateTensor(t: TensorPlan, seed: number, effort: KQuantEffort): Uint8Array {
  const rowLength = t.shape[0]!;
  const numRows = t.shape.length > 1 ? t.shape[1]! : 1;
  const rowBytes = ggmlByteSize(t.type, rowLength);
  const out = new Uint8Array(rowBytes * numRows);
  const stream = new GaussianStream(tensorSeed(seed, t.name));
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / rowLength));
  const buf = new Float32Array(Math.min(rowsPerChunk, numRows) * rowLength);
  for (let row = 0; row < numRows; row += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, numRows - row);
    const chunk = buf.subarray(0, n * rowLength);
    fillChunk(t.init, stream, chunk, row, rowLength);
    out.set(encode(t.type, chunk, effort), row * rowBytes);
  }
  return out;
}

function fillChunk(init: TensorInit, stream: GaussianStream, chunk: Float32Array, firstRow: number, rowLength: number): void {
  switch (init.kind) {
    case 'values':
      chunk.set(init.values);
      return;
    case 'norm':
      stream.fill(chunk, NORM_NOISE);
      for (let i = 0; i < chunk.length; i++) chunk[i] = init.scale * (1 + chunk[i]!);
      return;
    case 'gaussian':
      stream.fill(chunk, init.std);
      if (!init.isRowNormalized && !init.rowScales) return;
      for (let start = 0, r = firstRow; start < chunk.length; start += rowLength, r++) {
        const end = start + rowLength;
        let scale = init.rowScales?.get(r) ?? 1;
        if (init.isRowNormalized) {
          let sumSquares = 0;
          for (let i = start; i < end; i++) sumSquares += chunk[i]! * chunk[i]!;
          scale *= init.std / Math.sqrt(sumSquares / rowLength);
        }
        if (scale !== 1) for (let i = start; i < end; i++) chunk[i]! *= scale;
      }
  }
}

function encode(type: GgmlType, values: Float32Array, effort: KQuantEffort): Uint8Array {
  const codec = codecFor(type)!;
  return effort === 'fast' && codec.quantizeFast ? codec.quantizeFast(values) : codec.quantize(values);
}

/** FNV-1a of the tensor name, mixed with the model seed. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Standard normal quantiles at (k + 0.5)/65536: a 16-bit-resolution gaussian by table lookup. */
const GAUSSIAN_TABLE: Float32Array = (() => {
  const table = new Float32Array(65536);
  for (let k = 0; k < 65536; k++) table[k] = inverseNormalCdf((k + 0.5) / 65536);
  return table;
})();

/**
 * N(0, 1) samples by table lookup, two per 32-bit xoshiro128** draw (the generator of util/rng.ts,
 * kept in int32 locals here because this is the hot loop of writing a large model).
 */
class GaussianStream {
  private readonly state = new Int32Array(4);

  constructor(seed: number) {
    const rng = new Rng(seed);
    for (let i = 0; i < 4; i++) this.state[i] = rng.nextU32() | 0;
    if (this.state.every((v) => v === 0)) this.state[0] = 1;
  }

  /** Fills `out` with N(0, std²) samples. */
  fill(out: Float32Array, std: number): void {
    const st = this.state;
    let s0 = st[0]!, s1 = st[1]!, s2 = st[2]!, s3 = st[3]!;
    for (let i = 0; i < out.length; i += 2) {
      const m = Math.imul(s1, 5);
      const u = Math.imul((m << 7) | (m >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = GAUSSIAN_TABLE[u & 0xffff]! * std;
      if (i + 1 < out.length) out[i + 1] = GAUSSIAN_TABLE[u >>> 16]! * std;
    }
    st[0] = s0;
    st[1] = s1;
    st[2] = s2;
    st[3] = s3;
  }
}

/** Acklam's rational approximation of Φ⁻¹ (relative error < 1.2e-9). */
function inverseNormalCdf(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}
