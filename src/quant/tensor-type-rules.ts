/**
 * Which type each tensor of a model gets when it is quantized to a format: llama-quantize's rules
 * (llama.cpp src/llama-quant.cpp, the version node-llama-cpp 3.21.1 ships), restated for the
 * formats Peregrine writes.
 *
 * 1. Only some tensors may change type (tensor_allows_quantization): at least 2 dimensions (trailing
 *    1s do not count), a name ending in `weight`, not a norm (`_norm.weight`), not an MoE router
 *    (`ffn_gate_inp.weight`), not one of the small special tensors listed below; `--keep` patterns
 *    leave more as they are. The rest are copied unchanged.
 * 2. The format's mixture (llama_tensor_get_type_impl), for quantized formats only:
 *    - output.weight, and token_embd.weight when the model has no output.weight (tied embeddings):
 *      Q8_0 when the row length is not a multiple of the default type's block (or for Falcon), else
 *      Q6_K unless the default type is Q8_0;
 *    - Q4_K_M / Q5_K_M: attn_v (and fused qkv) and ffn_down in the layers use_more_bits picks get Q6_K;
 *      Q4_K_S: the first 4 attn_v and the ffn_down of the first 1/8 of the layers get Q5_K;
 *    - 8-expert models: attn_v and attn_k get Q8_0, attn_output Q5_K under Q4_K_S/M; a 70B Llama's
 *      attn_v gets Q5_K where the rule gave Q4_K.
 *    Peregrine's MXFP4 (llama_ftype MXFP4_MOE, 38) differs on purpose: llama.cpp's MXFP4_MOE puts
 *    MXFP4 only on 3-D expert tensors and Q8_0 everywhere else, which for the dense models Peregrine
 *    runs would be a Q8_0 file. Here every 2-D weight is MXFP4, and output and token_embd are Q8_0 as
 *    MXFP4_MOE has them: what `llama-quantize --pure --output-tensor-type q8_0
 *    --token-embedding-type q8_0 MXFP4_MOE` writes.
 * 3. Fallback (tensor_type_fallback): a row length that is not a multiple of the chosen type's
 *    block takes Q5_0 for Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K; a 32-block type, or a fallback
 *    that does not fit either, takes F16. A block of more than 32 without a fallback (NVFP4's 64) is
 *    an error, as in llama.cpp.
 */
import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { GgmlType, ggmlTypeName, ggmlTypeTraits } from '../formats/ggml-type.js';
import { LlamaFtype, type QuantFormat } from './quant-format.js';

/** What the rules need of a tensor. */
export interface TensorTypeInput {
  readonly name: string;
  /** ggml order: shape[0] is the row length */
  readonly shape: readonly number[];
  readonly type: GgmlType;
}

/** What the rules need of the model (from its GGUF metadata). */
export interface ModelTypeInput {
  readonly architecture: string;
  /** `<arch>.block_count` */
  readonly numLayers: number;
  /** `<arch>.expert_count`, 0 when absent */
  readonly numExperts: number;
  /** `<arch>.attention.head_count`, `head_count_kv` (0 when absent) */
  readonly numHeads: number;
  readonly numKvHeads: number;
}

export type TensorTypeReason =
  /** not a tensor llama-quantize changes (1-D, a norm, not a weight, ...) */
  | 'not-quantizable'
  /** matched a `keep` pattern */
  | 'kept'
  /** the format's type, or the mixture's choice for this tensor */
  | 'format'
  /** the chosen type's block does not divide the row length: llama-quantize's fallback */
  | 'fallback';

export interface TensorTypePlan {
  readonly name: string;
  readonly type: GgmlType;
  readonly reason: TensorTypeReason;
}

type Category =
  | 'token_embd' | 'attn_q' | 'attn_v' | 'attn_k' | 'attn_qkv' | 'attn_kv_b' | 'attn_output'
  | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'output' | 'other';

function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b';
  if (name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

function isAttnVLike(c: Category): boolean {
  return c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';
}

/** Substrings that keep a weight out of quantization (llama-quantize's list: routers, tiny or special tensors). */
const NEVER_QUANTIZED = [
  '_norm.weight', 'ffn_gate_inp.weight', 'ffn_gate_tid2eid.weight', 'altup', 'laurel', 'per_layer_model_proj',
  'ssm_conv1d', 'shortconv.conv.weight', 'indexer.k_proj.weight', 'indexer.q_proj.weight',
  'time_mix_first.weight', 'time_mix_w0.weight', 'time_mix_w1.weight', 'time_mix_w2.weight', 'time_mix_v0.weight',
  'time_mix_v1.weight', 'time_mix_v2.weight', 'time_mix_a0.weight', 'time_mix_a1.weight', 'time_mix_a2.weight',
  'time_mix_g1.weight', 'time_mix_g2.weight', 'time_mix_decay_w1.weight', 'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight', 'attn_rel_b.weight', '.position_embd', 'sam.pos_embd', 'sam.neck.', 'sam.net_',
  '.rel_pos', '.patch_embd', '.patch_merger', 'a.rvq.codebook', 'mm.a.code_embd',
];
/** Whole names never quantized: positional embeddings and token types (BERT). */
const NEVER_QUANTIZED_NAMES = new Set(['position_embd.weight', 'token_types.weight']);

/** ggml_n_dims: the dimensions up to the last one above 1 (at least 1). */
function numDims(shape: readonly number[]): number {
  let n = shape.length;
  while (n > 1 && shape[n - 1] === 1) n--;
  return n;
}

export function allowsQuantization(name: string, shape: readonly number[]): boolean {
  if (numDims(shape) < 2) return false;
  if (!name.endsWith('weight')) return false;
  if (NEVER_QUANTIZED_NAMES.has(name)) return false;
  return !NEVER_QUANTIZED.some((s) => name.includes(s));
}

function useMoreBits(iLayer: number, numLayers: number): boolean {
  const eighth = Math.trunc(numLayers / 8);
  return iLayer < eighth || iLayer >= Math.trunc((7 * numLayers) / 8) || (iLayer - eighth) % 3 === 2;
}

/** Per-model counters, as llama-quantize's quantize_state_impl (tensors visited in llama.cpp's order). */
interface RuleState {
  readonly model: ModelTypeInput;
  readonly hasTiedEmbeddings: boolean;
  readonly numAttnV: number;
  iAttnV: number;
  iFfnDown: number;
}

/** The layer of a tensor: llama-quantize counts ffn_down tensors, or reads `blk.N.` when there are experts. */
function layerOf(state: RuleState, counter: number, name: string): number {
  if (state.model.numExperts <= 1) return counter;
  const m = /^blk\.(\d+)\./.exec(name);
  const layer = m ? Number(m[1]) : -1;
  if (layer < 0 || layer >= state.model.numLayers) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `cannot tell the layer of tensor '${untrustedText(name)}' (${state.model.numLayers} layers)`);
  }
  return layer;
}

function blockSize(type: GgmlType): number {
  return ggmlTypeTraits(type)!.blockSize;
}

/** llama_tensor_get_type_impl for the formats Peregrine writes. */
function mixtureType(state: RuleState, format: QuantFormat, t: TensorTypeInput, category: Category): GgmlType {
  const ftype = format.fileType;
  const { model } = state;
  const isFalcon = model.architecture === 'falcon';
  let type = format.defaultType;
  if (category === 'output' || (state.hasTiedEmbeddings && category === 'token_embd')) {
    if (ftype === LlamaFtype.MOSTLY_MXFP4_MOE || isFalcon || t.shape[0]! % blockSize(type) !== 0) return GgmlType.Q8_0;
    return type === GgmlType.Q8_0 ? type : GgmlType.Q6_K;
  }
  if (ftype === LlamaFtype.MOSTLY_MXFP4_MOE) return category === 'token_embd' ? GgmlType.Q8_0 : GgmlType.MXFP4;
  if (category === 'token_embd') return type;
  if (isAttnVLike(category)) {
    if ((ftype === LlamaFtype.MOSTLY_Q4_K_M || ftype === LlamaFtype.MOSTLY_Q5_K_M) && useMoreBits(state.iAttnV, state.numAttnV)) type = GgmlType.Q6_K;
    else if (ftype === LlamaFtype.MOSTLY_Q4_K_S && state.iAttnV < 4) type = GgmlType.Q5_K;
    // a 70B Llama: 8 heads share each attn_v, which is 8× smaller than attn_q; more bits cost little
    const is70B = model.architecture === 'llama' && model.numLayers === 80 && model.numHeads !== model.numKvHeads;
    if (is70B && type === GgmlType.Q4_K) type = GgmlType.Q5_K;
    if (model.numExperts === 8) type = GgmlType.Q8_0;
    state.iAttnV++;
    return type;
  }
  if (category === 'attn_k') return model.numExperts === 8 ? GgmlType.Q8_0 : type;
  if (category === 'ffn_down') {
    const iLayer = layerOf(state, state.iFfnDown, t.name);
    const numLayers = model.numLayers;
    if (ftype === LlamaFtype.MOSTLY_Q4_K_M) {
      if (isFalcon) type = iLayer < Math.trunc(numLayers / 16) ? GgmlType.Q6_K : useMoreBits(iLayer, numLayers) ? GgmlType.Q5_K : GgmlType.Q4_K;
      else if (useMoreBits(iLayer, numLayers)) type = GgmlType.Q6_K;
    } else if (ftype === LlamaFtype.MOSTLY_Q5_K_M && useMoreBits(iLayer, numLayers)) {
      type = GgmlType.Q6_K;
    } else if (ftype === LlamaFtype.MOSTLY_Q4_K_S && !isFalcon && iLayer < Math.trunc(numLayers / 8)) {
      type = GgmlType.Q5_K;
    }
    state.iFfnDown++;
    return type;
  }
  if (category === 'attn_output' && !isFalcon && model.numExperts === 8) {
    if (ftype === LlamaFtype.MOSTLY_Q4_K_S || ftype === LlamaFtype.MOSTLY_Q4_K_M) return GgmlType.Q5_K;
  }
  return type;
}

/** tensor_type_fallback: a type whose block fits the row length. */
function fallbackType(t: TensorTypeInput, type: GgmlType): GgmlType {
  const numCols = t.shape[0]!;
  const block = blockSize(type);
  if (numCols % block === 0) return type;
  let fallback: GgmlType;
  switch (type) {
    case GgmlType.Q4_K: fallback = GgmlType.Q5_0; break;
    case GgmlType.Q5_K: fallback = GgmlType.Q5_1; break;
    case GgmlType.Q6_K: fallback = GgmlType.Q8_0; break;
    default:
      if (block > 32) {
        throw new InvalidRequestError(
          'INVALID_ARGUMENT',
          `tensor '${untrustedText(t.name)}' has rows of ${numCols}, not a multiple of ${ggmlTypeName(type)}'s block of ${block}, and llama.cpp defines no fallback for it`,
        );
      }
      fallback = type;
  }
  return numCols % blockSize(fallback) === 0 ? fallback : GgmlType.F16;
}

/** Compiles `keep` patterns (regular expressions searched in tensor names, as llama-quantize's --tensor-type patterns). */
export function compileKeepPatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    try {
      return new RegExp(p);
    } catch (err) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `keep pattern '${untrustedText(p)}' is not a valid regular expression: ${(err as Error).message}`);
    }
  });
}

/** The order llama-quantize visits (and writes) tensors: by layer (`blk.N.`; others first), then by name. */
export function llamaTensorOrder<T extends { readonly name: string }>(tensors: readonly T[]): T[] {
  const layer = (name: string): number => {
    const m = /^blk\.(\d+)\./.exec(name);
    return m ? Number(m[1]) : -1;
  };
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Each tensor's type in `format`, in llama-quantize's order (see llamaTensorOrder: its counters
 * depend on it). Tensors that keep their type are listed with their own type.
 */
export function planTensorTypes(
  model: ModelTypeInput, tensors: readonly TensorTypeInput[], format: QuantFormat, keep: readonly RegExp[] = [],
): TensorTypePlan[] {
  const ordered = llamaTensorOrder(tensors);
  const state: RuleState = {
    model,
    hasTiedEmbeddings: !tensors.some((t) => t.name === 'output.weight'),
    numAttnV: tensors.filter((t) => isAttnVLike(categoryOf(t.name))).length,
    iAttnV: 0,
    iFfnDown: 0,
  };
  const isQuantized = ggmlTypeTraits(format.defaultType)!.isQuantized;
  return ordered.map((t): TensorTypePlan => {
    if (!allowsQuantization(t.name, t.shape)) return { name: t.name, type: t.type, reason: 'not-quantizable' };
    if (keep.some((re) => re.test(t.name))) return { name: t.name, type: t.type, reason: 'kept' };
    if (!isQuantized) return { name: t.name, type: format.defaultType, reason: 'format' };
    const chosen = mixtureType(state, format, t, categoryOf(t.name));
    const type = fallbackType(t, chosen);
    return { name: t.name, type, reason: type === chosen ? 'format' : 'fallback' };
  });
}
