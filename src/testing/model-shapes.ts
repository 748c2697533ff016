/**
 * Named Llama-family model shapes: the hyper-parameters of real checkpoints (and tiny ones for
 * tests), used to write synthetic GGUFs of a given size.
 */
import { InvalidRequestError } from '../errors/engine-error.js';

/**
 * Phi-3 LongRoPE (HF `rope_scaling.type: "longrope"`): per-pair frequency divisors for contexts up to
 * the original one (short) and beyond it (long), written as rope_factors_short / rope_factors_long,
 * and the attention factor convert_hf_to_gguf.py derives: √(1 + ln(context / original) / ln(original)).
 */
export interface LongRopeScaling {
  readonly type: 'longrope';
  /** HF `original_max_position_embeddings`, in tokens */
  readonly originalContextLength: number;
}

/** Llama 3.1-style RoPE frequency scaling (HF `rope_scaling.rope_type: "llama3"`). */
export interface Llama3RopeScaling {
  readonly type: 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  /** HF `original_max_position_embeddings`, in tokens */
  readonly originalContextLength: number;
}

/**
 * Tokenizer family of a shape's real checkpoint: SentencePiece (Llama 2), byte-level BPE (Llama 3),
 * or byte-level BPE with Qwen2's pre-tokenizer and special tokens (Qwen2, Qwen3).
 */
export type VocabKind = 'spm' | 'bpe' | 'qwen2';

/**
 * GGUF `general.architecture` of a shape's file, by llama.cpp's names: 'llama'; 'qwen2' (biases
 * on q, k and v; NEOX rope); 'qwen3' (q and k RMS-normed per head, NEOX rope, no biases);
 * 'gemma2' (post-norms, GeGLU, sliding window on every other layer, soft-caps; tied); 'gemma3'
 * (gemma2's layers with q/k norms, five local layers per global one, linear rope scaling, no
 * soft-caps; tied); 'phi3' (q/k/v in one attn_qkv matrix, gate and up in one ffn_up, NEOX rope,
 * optional LongRoPE and partial rotary).
 */
export type SyntheticArchitecture = 'llama' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3' | 'phi3';

export interface ModelShape {
  readonly name: string;
  /** default 'llama' */
  readonly architecture?: SyntheticArchitecture;
  /** embedding width */
  readonly dim: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** per-head width (Qwen3's need not be dim / numHeads); also the rotary dimension */
  readonly headDim: number;
  /** FFN hidden width */
  readonly ffnDim: number;
  readonly vocabSize: number;
  /** maximum context, in tokens */
  readonly contextLength: number;
  readonly ropeTheta: number;
  readonly ropeScaling?: Llama3RopeScaling;
  /** Phi-3's LongRoPE factors and attention factor (phi3 only) */
  readonly longRope?: LongRopeScaling;
  /** rotated dimensions per head, `<arch>.rope.dimension_count` (default headDim; Phi-4-mini: 96 of 128) */
  readonly ropeDims?: number;
  readonly rmsNormEps: number;
  /** output projection shares token_embd */
  readonly hasTiedEmbeddings: boolean;
  readonly vocabKind: VocabKind;
  /** `<arch>.attention.sliding_window` (Gemma 2/3) */
  readonly slidingWindow?: number;
  /** `gemma2.attn_logit_softcapping` */
  readonly attentionSoftcap?: number;
  /** `gemma2.final_logit_softcapping` */
  readonly finalLogitSoftcap?: number;
  /** `<arch>.rope.scaling.type` linear with this `rope.scaling.factor` (Gemma 3 4B+) */
  readonly ropeLinearFactor?: number;
}

const LLAMA3_VOCAB = 128256;
/** Qwen2 / Qwen2.5 / Qwen3 embedding rows (151,665 tokens padded) */
const QWEN2_VOCAB = 151936;

const SHAPES = {
  'llama-3.2-1b': {
    name: 'llama-3.2-1b',
    dim: 2048, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64, ffnDim: 8192,
    vocabSize: LLAMA3_VOCAB, contextLength: 131072, ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 },
    rmsNormEps: 1e-5, hasTiedEmbeddings: true, vocabKind: 'bpe',
  },
  'llama-3.1-8b': {
    name: 'llama-3.1-8b',
    dim: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, ffnDim: 14336,
    vocabSize: LLAMA3_VOCAB, contextLength: 131072, ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 },
    rmsNormEps: 1e-5, hasTiedEmbeddings: false, vocabKind: 'bpe',
  },
  /** Karpathy's stories110M (llama2.c), Llama 2 SentencePiece vocab */
  'llama-110m': {
    name: 'llama-110m',
    dim: 768, numLayers: 12, numHeads: 12, numKvHeads: 12, headDim: 64, ffnDim: 2048,
    vocabSize: 32000, contextLength: 1024, ropeTheta: 10000,
    rmsNormEps: 1e-5, hasTiedEmbeddings: true, vocabKind: 'spm',
  },
  'qwen2.5-0.5b': {
    name: 'qwen2.5-0.5b', architecture: 'qwen2',
    dim: 896, numLayers: 24, numHeads: 14, numKvHeads: 2, headDim: 64, ffnDim: 4864,
    vocabSize: QWEN2_VOCAB, contextLength: 32768, ropeTheta: 1000000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'qwen2',
  },
  'qwen3-0.6b': {
    name: 'qwen3-0.6b', architecture: 'qwen3',
    dim: 1024, numLayers: 28, numHeads: 16, numKvHeads: 8, headDim: 128, ffnDim: 3072,
    vocabSize: QWEN2_VOCAB, contextLength: 40960, ropeTheta: 1000000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'qwen2',
  },
  /** Smallest shape whose every matrix row (256) fits k-quant super-blocks; Llama 2 style. */
  tiny: {
    name: 'tiny',
    dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, ffnDim: 512,
    vocabSize: 512, contextLength: 512, ropeTheta: 10000,
    rmsNormEps: 1e-5, hasTiedEmbeddings: false, vocabKind: 'spm',
  },
  /** Tiny Llama 3 style: BPE vocab, tied embeddings, GQA 4:1, llama3 RoPE scaling (rope_freqs tensor). */
  'tiny-llama3': {
    name: 'tiny-llama3',
    dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 1, headDim: 64, ffnDim: 768,
    vocabSize: 1024, contextLength: 1024, ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 },
    rmsNormEps: 1e-5, hasTiedEmbeddings: true, vocabKind: 'bpe',
  },
  /** Tiny Qwen2.5 style: q/k/v biases, NEOX rope, base 1e6, eps 1e-6, GQA 2:1, tied, Qwen2 BPE vocab. */
  'tiny-qwen2': {
    name: 'tiny-qwen2', architecture: 'qwen2',
    dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, ffnDim: 768,
    vocabSize: 1024, contextLength: 1024, ropeTheta: 1000000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'qwen2',
  },
  /**
   * Tiny Qwen3 style: q/k norms, heads wider than dim / numHeads (4 × 128 over dim 256, as Qwen3-0.6B
   * has 16 × 128 over 1024), NEOX rope, GQA 2:1, untied, Qwen2 BPE vocab.
   */
  'tiny-qwen3': {
    name: 'tiny-qwen3', architecture: 'qwen3',
    dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 128, ffnDim: 768,
    vocabSize: 1024, contextLength: 1024, ropeTheta: 1000000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: false, vocabKind: 'qwen2',
  },
  /** Gemma 2 2B: head width 256 over dim 2304 (8 heads), GQA 2:1, window 4096, soft-caps 50 / 30. */
  'gemma-2-2b': {
    name: 'gemma-2-2b', architecture: 'gemma2',
    dim: 2304, numLayers: 26, numHeads: 8, numKvHeads: 4, headDim: 256, ffnDim: 9216,
    vocabSize: 256000, contextLength: 8192, ropeTheta: 10000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'spm',
    slidingWindow: 4096, attentionSoftcap: 50, finalLogitSoftcap: 30,
  },
  /** Gemma 3 1B (text): 4 heads × 256 over dim 1152, one KV head, window 512, global rope base 1e6, no scaling. */
  'gemma-3-1b': {
    name: 'gemma-3-1b', architecture: 'gemma3',
    dim: 1152, numLayers: 26, numHeads: 4, numKvHeads: 1, headDim: 256, ffnDim: 6912,
    vocabSize: 262144, contextLength: 32768, ropeTheta: 1000000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'spm',
    slidingWindow: 512,
  },
  /**
   * Tiny Gemma 2 style: 4 layers (0 and 2 local, 1 and 3 global), a window of 32 (so prompts and
   * generations pass it), GQA 2:1, tied, SPM vocab. Its soft-caps are far smaller than the released
   * 50 / 30 so that they change this small model's scores and logits (a test without them fails).
   */
  'tiny-gemma2': {
    name: 'tiny-gemma2', architecture: 'gemma2',
    dim: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 64, ffnDim: 512,
    vocabSize: 512, contextLength: 512, ropeTheta: 10000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'spm',
    slidingWindow: 32, attentionSoftcap: 3, finalLogitSoftcap: 15,
  },
  /**
   * Tiny Gemma 3 style: 6 layers (0-4 local, 5 global), a window of 32, heads wider than dim /
   * numHeads (4 × 128 over 256), GQA 2:1, global rope base 1e6 with linear scaling ×8, tied, SPM vocab.
   */
  'tiny-gemma3': {
    name: 'tiny-gemma3', architecture: 'gemma3',
    dim: 256, numLayers: 6, numHeads: 4, numKvHeads: 2, headDim: 128, ffnDim: 512,
    vocabSize: 512, contextLength: 512, ropeTheta: 1000000,
    rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'spm',
    slidingWindow: 32, ropeLinearFactor: 8,
  },
  /** Phi-3 mini 4k: 32 heads × 96, no GQA, plain rope (no LongRoPE factors), untied, window 2047 (ignored, as llama.cpp does). */
  'phi-3-mini': {
    name: 'phi-3-mini', architecture: 'phi3',
    dim: 3072, numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 96, ffnDim: 8192,
    vocabSize: 32064, contextLength: 4096, ropeTheta: 10000,
    rmsNormEps: 1e-5, hasTiedEmbeddings: false, vocabKind: 'spm',
    slidingWindow: 2047,
  },
  /**
   * Tiny Phi-4-mini style: LongRoPE (original context 256 of 1024: short factors for contexts up to
   * 256, long beyond), partial rotary (48 of 64 dims), GQA 2:1, tied, SPM vocab.
   */
  'tiny-phi3': {
    name: 'tiny-phi3', architecture: 'phi3',
    dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, ffnDim: 512,
    vocabSize: 512, contextLength: 1024, ropeTheta: 10000,
    longRope: { type: 'longrope', originalContextLength: 256 }, ropeDims: 48,
    rmsNormEps: 1e-5, hasTiedEmbeddings: true, vocabKind: 'spm',
    slidingWindow: 0,
  },
  /**
   * Tiny Phi-3 mini 4k style: plain rope over the whole head, no GQA, untied, SPM vocab, and a
   * sliding window of 32 in the metadata that llama.cpp ignores for phi3 (and so must we).
   */
  'tiny-phi3-4k': {
    name: 'tiny-phi3-4k', architecture: 'phi3',
    dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 64, ffnDim: 512,
    vocabSize: 512, contextLength: 512, ropeTheta: 10000,
    rmsNormEps: 1e-5, hasTiedEmbeddings: false, vocabKind: 'spm',
    slidingWindow: 32,
  },
  /** Very small, below k-quant block size (k-quant weights fall back to Q8_0 / F16). */
  'tiny-64': {
    name: 'tiny-64',
    dim: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 16, ffnDim: 128,
    vocabSize: 320, contextLength: 256, ropeTheta: 10000,
    rmsNormEps: 1e-5, hasTiedEmbeddings: true, vocabKind: 'spm',
  },
} as const satisfies Record<string, ModelShape>;

export type ModelShapeName = keyof typeof SHAPES;

export const MODEL_SHAPE_NAMES = Object.keys(SHAPES) as readonly ModelShapeName[];

/** The named shape, or `shape` itself after validation. */
export function resolveModelShape(shape: ModelShapeName | ModelShape): ModelShape {
  if (typeof shape === 'string') {
    const found = (SHAPES as Record<string, ModelShape>)[shape];
    if (!found) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `unknown model shape '${shape}' (known: ${MODEL_SHAPE_NAMES.join(', ')})`);
    }
    return found;
  }
  validateModelShape(shape);
  return shape;
}

/** Throws listing every inconsistency in an explicit shape. */
export function validateModelShape(shape: ModelShape): void {
  const issues: string[] = [];
  const positive = ['dim', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'ffnDim', 'vocabSize', 'contextLength'] as const;
  for (const key of positive) {
    if (!Number.isInteger(shape[key]) || shape[key] <= 0) issues.push(`${key} must be a positive integer (got ${shape[key]})`);
  }
  if (shape.numHeads % shape.numKvHeads !== 0) issues.push(`numHeads ${shape.numHeads} is not a multiple of numKvHeads ${shape.numKvHeads}`);
  if (shape.headDim % 2 !== 0) issues.push(`headDim ${shape.headDim} must be even for RoPE`);
  const ropeDims = shape.ropeDims ?? shape.headDim;
  if (!Number.isInteger(ropeDims) || ropeDims <= 0 || ropeDims % 2 !== 0 || ropeDims > shape.headDim) issues.push(`ropeDims ${ropeDims} must be even and in 2..headDim`);
  if (shape.longRope && shape.architecture !== 'phi3') issues.push('longRope is a phi3 setting');
  if (!(shape.ropeTheta > 0)) issues.push(`ropeTheta must be positive (got ${shape.ropeTheta})`);
  if (!(shape.rmsNormEps > 0)) issues.push(`rmsNormEps must be positive (got ${shape.rmsNormEps})`);
  if (issues.length) throw new InvalidRequestError('INVALID_ARGUMENT', `invalid model shape '${shape.name}': ${issues.join('; ')}`);
}

/** Number of weights (including norms and, when untied, the output projection). */
export function countModelParams(shape: ModelShape): number {
  const qDim = shape.numHeads * shape.headDim;
  const kvDim = shape.numKvHeads * shape.headDim;
  const arch = shape.architecture ?? 'llama';
  const perLayer = 2 * shape.dim + shape.dim * (2 * qDim + 2 * kvDim) + 3 * shape.dim * shape.ffnDim +
    (arch === 'qwen2' ? qDim + 2 * kvDim : 0) + // q/k/v biases
    (arch === 'qwen3' || arch === 'gemma3' ? 2 * shape.headDim : 0) + // q/k norms
    (arch === 'gemma2' || arch === 'gemma3' ? 2 * shape.dim : 0); // post-attention and post-MLP norms
  const embeddings = shape.vocabSize * shape.dim * (shape.hasTiedEmbeddings ? 1 : 2);
  const longRopeFactors = shape.longRope ? shape.ropeDims ?? shape.headDim : 0; // short and long, ropeDims / 2 each
  return embeddings + shape.numLayers * perLayer + shape.dim + longRopeFactors;
}
