import { ModelLoadError } from '../../errors/engine-error.js';
import { bf16ToF32, f16ToF32 } from '../../quant/float16.js';
import { E4M3_TABLE } from '../../quant/fp8.js';
import { GgmlType, ggmlByteSize } from '../ggml-type.js';

/**
 * Pre-quantized FP8 checkpoints (NVIDIA Model Optimizer, compressed-tensors / llm-compressor): a
 * weight `X.weight` stored as `float8_e4m3fn` (safetensors F8_E4M3, OCP E4M3: the same bytes as
 * Peregrine's FP8 type's) with `X.weight_scale`, one f32 per tensor ([] or [1]) or per row ([rows]
 * or [rows, 1]); the real weight is e4m3(q) · scale. (`X.input_scale`, the activations' static
 * scale, is for FP8 activations, which Peregrine does not run: it is ignored.)
 *
 * Where every scale is a power of two the weight becomes Peregrine's FP8_E4M3 exactly: its blocks
 * of 32 take the row's scale as their E8M0 byte and the E4M3 bytes as they are. Any other scale
 * (amax / 448 is what the tools write) cannot be an E8M0 byte, and folding it into the E4M3 values
 * would round them a second time; the weight is decoded to BF16 instead: e4m3(q) · scale (exact in
 * a double: a 4-bit significand times a 24-bit one) rounded to bf16's 8 bits through f32, a relative
 * error of at most 2^-9 (+ 2^-24) per weight.
 */

/** how an FP8 weight is presented: its GGUF type and its bytes' size */
export interface Fp8WeightPlan {
  readonly type: GgmlType.FP8_E4M3 | GgmlType.BF16;
  /** one per row, or one for the tensor */
  readonly scales: Float32Array;
}

/** the f32 values of a weight_scale tensor's bytes (F32, BF16 or F16) */
export function decodeScales(bytes: Uint8Array, dtype: string, where: string): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.slice().buffer);
  if (dtype === 'BF16' || dtype === 'F16') {
    const halves = new Uint16Array(bytes.slice().buffer);
    const decode = dtype === 'BF16' ? bf16ToF32 : f16ToF32;
    return Float32Array.from(halves, (h) => decode(h));
  }
  throw new ModelLoadError('UNSUPPORTED_TENSOR_TYPE', `${where}: weight_scale has dtype ${dtype} (F32, BF16 or F16 expected)`);
}

/** whether x is 2^k for an E8M0 exponent (k + 127 in 0..254) */
function isE8m0PowerOfTwo(x: number): boolean {
  if (!(x > 0) || !Number.isFinite(x)) return false;
  const k = Math.log2(x);
  return Number.isInteger(k) && k >= -127 && k <= 127;
}

/**
 * The plan for a [numRows, numCols] F8_E4M3 weight with `scales` (1 or numRows values, as
 * decodeScales gives them): FP8_E4M3 when every scale is a power of two and rows are whole blocks
 * of 32, else BF16. A scale count that is neither 1 nor numRows (block-wise scales, such as
 * DeepSeek's 128 × 128 weight_scale_inv) is refused by name.
 */
export function planFp8Weight(numRows: number, numCols: number, scales: Float32Array, where: string): Fp8WeightPlan {
  if (scales.length !== 1 && scales.length !== numRows) {
    throw new ModelLoadError('UNSUPPORTED_TENSOR_TYPE', `${where}: weight_scale has ${scales.length} values; only one per tensor or one per row (${numRows}) is supported`);
  }
  const isExact = numCols % 32 === 0 && scales.every(isE8m0PowerOfTwo);
  return { type: isExact ? GgmlType.FP8_E4M3 : GgmlType.BF16, scales };
}

/** the presented bytes of an FP8 weight: `q` [numRows, numCols] E4M3 bytes, converted as `plan` says */
export function convertFp8Weight(q: Uint8Array, numRows: number, numCols: number, plan: Fp8WeightPlan): Uint8Array {
  const scaleOf = (row: number): number => plan.scales[plan.scales.length === 1 ? 0 : row]!;
  if (plan.type === GgmlType.FP8_E4M3) {
    const out = new Uint8Array(ggmlByteSize(GgmlType.FP8_E4M3, numRows * numCols));
    const blocksPerRow = numCols / 32;
    for (let r = 0; r < numRows; r++) {
      const e = Math.log2(scaleOf(r)) + 127;
      for (let b = 0; b < blocksPerRow; b++) {
        const o = (r * blocksPerRow + b) * 33;
        out[o] = e;
        out.set(q.subarray(r * numCols + b * 32, r * numCols + b * 32 + 32), o + 1);
      }
    }
    return out;
  }
  const out = new Uint16Array(numRows * numCols);
  const f = new Float32Array(1);
  const bits = new Uint32Array(f.buffer);
  for (let r = 0; r < numRows; r++) {
    const s = Math.fround(scaleOf(r));
    for (let c = 0; c < numCols; c++) {
      f[0] = E4M3_TABLE[q[r * numCols + c]!]! * s;
      // f32 → bf16, nearest, ties to even (no NaN among E4M3 weights' products but NaN itself, kept as NaN)
      const u = bits[0]!;
      out[r * numCols + c] = Number.isNaN(f[0]) ? 0x7fc0 : (u + 0x7fff + ((u >> 16) & 1)) >>> 16;
    }
  }
  return new Uint8Array(out.buffer);
}
