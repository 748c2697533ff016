import { GgmlType, ggmlTypeName } from '../../formats/ggml-type.js';
import { argmax } from '../../util/argmax.js';
import { codecFor } from '../../quant/index.js';
import { F16_TO_F32, roundToBf16, roundToF16, f32ToF16 } from '../../quant/float16.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { DisposedError } from '../disposed-error.js';
import { HostKvCache, type HostKvLayer, type HostKvView } from '../host-kv-cache.js';
import { encodeKv, kvDecoder } from './kv-codec.js';
import type { AttentionShape, KernelBackend, KvCacheSpec, RopeParams, WeightTensor, WeightUse } from '../kernel-backend.js';
import { quantizeQ8_0, quantizeQ8K, type Q8Activations, type Q8KActivations } from './activation-quant.js';
import { fmaf, GGML_VEC_WIDTH, ggmlSilu, scalarSilu } from './ggml-float.js';
import { geglu } from './gelu.js';
import { dotMxfp4, dotNvfp4 } from './fp4-dot.js';
import { dotFp8 } from './fp8-dot.js';
import { dotQ45K, dotQ6K } from './k-quant-dot.js';

/**
 * The reference backend: plain TypeScript, obviously correct, slow. Every other backend is
 * checked against it. Mirrors llama.cpp's CPU numerics (see KernelBackend).
 *
 * Memory is JavaScript memory, nothing native: a buffer is a Float32Array, a weight handle is the
 * uploaded WeightTensor itself (its bytes used in place, so they stay referenced), a KV cache is a
 * HostKvCache. free/freeWeight/dispose let go of them; what was freed is refused afterwards
 * (DisposedError) by the calls that take memory in (view, read, write, matmul, embedding).
 */
export class ReferenceBackend implements KernelBackend {
  readonly name = 'reference';
  readonly hasBf16Batches = false;
  private hasDisposed = false;
  /** buffers and weights let go of (a plain typed array cannot be emptied, so it is remembered) */
  private readonly freed = new WeakSet<object>();

  allocate(length: number): Float32Array {
    this.checkLive();
    if (!Number.isSafeInteger(length) || length < 0) throw new InvalidRequestError('INVALID_ARGUMENT', `buffer length must be a non-negative integer, got ${length}`);
    return new Float32Array(length);
  }

  view(buffer: Float32Array, offset: number, length: number): Float32Array {
    this.checkBuffer(buffer);
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= buffer.length)) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `view [${offset}, ${offset + length}) is outside a buffer of ${buffer.length}`);
    }
    return buffer.subarray(offset, offset + length);
  }

  write(buffer: Float32Array, src: Float32Array, offset = 0): void {
    this.checkBuffer(buffer);
    buffer.set(src, offset);
  }

  read(buffer: Float32Array): Float32Array {
    this.checkBuffer(buffer);
    return buffer;
  }

  free(buffer: Float32Array): void {
    this.freed.add(buffer);
  }

  uploadWeight(w: WeightTensor, _use: WeightUse = 'matmul'): WeightTensor {
    this.checkLive();
    return w;
  }

  freeWeight(w: WeightTensor): void {
    this.freed.add(w);
  }

  allocateKvCache(spec: KvCacheSpec): HostKvCache {
    this.checkLive();
    return new HostKvCache(spec);
  }

  /** whether dispose() was called */
  get isDisposed(): boolean {
    return this.hasDisposed;
  }

  dispose(): void {
    this.hasDisposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  copyRows(dst: Float32Array, dstOffset: number, dstStride: number, src: Float32Array, srcOffset: number, srcStride: number, numRows: number, rowLength: number): void {
    for (let r = 0; r < numRows; r++) {
      const from = srcOffset + r * srcStride;
      dst.set(src.subarray(from, from + rowLength), dstOffset + r * dstStride);
    }
  }

  gatherRows(out: Float32Array, x: Float32Array, rows: Int32Array, rowLength: number): void {
    for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i]! * rowLength, (rows[i]! + 1) * rowLength), i * rowLength);
  }

  private checkLive(): void {
    if (this.hasDisposed) throw new DisposedError(`the ${this.name} backend`);
  }

  private checkBuffer(buffer: Float32Array): void {
    this.checkLive();
    if (this.freed.has(buffer)) throw new DisposedError('a buffer');
  }

  /** a weight's bytes, unless it was freed */
  private checkWeight(w: WeightTensor): void {
    this.checkLive();
    if (this.freed.has(w)) throw new DisposedError(`weight ${w.name}`);
  }

  matmul(out: Float32Array, w: WeightTensor, x: Float32Array, numTokens: number): void {
    this.checkWeight(w);
    const { numRows, numCols } = w;
    switch (w.type) {
      case GgmlType.F32: {
        const wf = f32View(w.data, numRows * numCols);
        for (let t = 0; t < numTokens; t++) {
          for (let r = 0; r < numRows; r++) {
            let sum = 0;
            const base = r * numCols;
            for (let c = 0; c < numCols; c++) sum += wf[base + c]! * x[t * numCols + c]!;
            out[t * numRows + r] = sum;
          }
        }
        return;
      }
      case GgmlType.F16: {
        // llama.cpp on x86 with AMX keeps f32 activations for f16 weights whose shape its AMX
        // buffer takes (rows % 32, cols % 16): 16 fma lanes over k ≡ lane (mod 16), then a pairwise
        // tree. Other shapes go through ggml_vec_dot_f16 with f16-rounded activations.
        const isLaneKernel = numRows % 32 === 0 && numCols % GGML_VEC_WIDTH === 0;
        const row = new Float32Array(numCols);
        const xr = new Float32Array(numCols);
        const lanes = new Float64Array(GGML_VEC_WIDTH);
        const codec = codecFor(GgmlType.F16)!;
        for (let t = 0; t < numTokens; t++) {
          for (let c = 0; c < numCols; c++) xr[c] = isLaneKernel ? x[t * numCols + c]! : roundToF16(x[t * numCols + c]!);
          for (let r = 0; r < numRows; r++) {
            codec.dequantize(w.data, r * numCols, numCols, row);
            if (isLaneKernel) {
              out[t * numRows + r] = dotF32Lanes(row, xr, 0, numCols, lanes);
            } else {
              let sum = 0;
              for (let c = 0; c < numCols; c++) sum += row[c]! * xr[c]!;
              out[t * numRows + r] = sum;
            }
          }
        }
        return;
      }
      case GgmlType.BF16: {
        // activations rounded to bf16, as ggml's vec_dot_bf16
        const xr = new Float32Array(numCols);
        const row = new Float32Array(numCols);
        const codec = codecFor(GgmlType.BF16)!;
        for (let t = 0; t < numTokens; t++) {
          for (let c = 0; c < numCols; c++) xr[c] = roundToBf16(x[t * numCols + c]!);
          for (let r = 0; r < numRows; r++) {
            codec.dequantize(w.data, r * numCols, numCols, row);
            let sum = 0;
            for (let c = 0; c < numCols; c++) sum += row[c]! * xr[c]!;
            out[t * numRows + r] = sum;
          }
        }
        return;
      }
      case GgmlType.Q8_0:
      case GgmlType.Q4_0:
      case GgmlType.MXFP4:
      case GgmlType.NVFP4: {
        // as ggml: activations to Q8_0 once per token, then vec_dot_<type>_q8_0 per row
        const act: Q8Activations = { qs: new Int8Array(numCols), d: new Float32Array(numCols / 32) };
        const blockSize = w.type === GgmlType.NVFP4 ? 64 : 32;
        const numBlocks = numCols / blockSize;
        const dot = { [GgmlType.Q8_0]: dotQ8_0, [GgmlType.Q4_0]: dotQ4_0, [GgmlType.MXFP4]: dotMxfp4, [GgmlType.NVFP4]: dotNvfp4 }[w.type];
        for (let t = 0; t < numTokens; t++) {
          quantizeQ8_0(x, t * numCols, numCols, act);
          for (let r = 0; r < numRows; r++) out[t * numRows + r] = dot(w.data, r * numBlocks, numBlocks, act);
        }
        return;
      }
      case GgmlType.FP8_E4M3: {
        const numBlocks = numCols / 32;
        for (let t = 0; t < numTokens; t++) {
          for (let r = 0; r < numRows; r++) out[t * numRows + r] = dotFp8(w.data, r * numBlocks, numBlocks, x, t * numCols);
        }
        return;
      }
      case GgmlType.Q4_K:
      case GgmlType.Q5_K:
      case GgmlType.Q6_K: {
        // as ggml: activations to Q8_K once per token, then vec_dot_qX_K_q8_K per row
        const numBlocks = numCols / 256;
        const act: Q8KActivations = { qs: new Int8Array(numCols), d: new Float32Array(numBlocks), bsums: new Int16Array(numBlocks * 16) };
        for (let t = 0; t < numTokens; t++) {
          quantizeQ8K(x, t * numCols, numCols, act);
          for (let r = 0; r < numRows; r++) {
            out[t * numRows + r] =
              w.type === GgmlType.Q6_K ? dotQ6K(w.data, r * numBlocks, numBlocks, act) : dotQ45K(w.data, w.type === GgmlType.Q5_K, r * numBlocks, numBlocks, act);
          }
        }
        return;
      }
      default: {
        // any other decodable type: dequantize the row, f32 activations
        const codec = codecFor(w.type);
        if (!codec) throw new Error(`reference matmul: unsupported weight type ${ggmlTypeName(w.type)}`);
        const row = new Float32Array(numCols);
        for (let r = 0; r < numRows; r++) {
          codec.dequantize(w.data, r * numCols, numCols, row);
          for (let t = 0; t < numTokens; t++) {
            let sum = 0;
            for (let c = 0; c < numCols; c++) sum += row[c]! * x[t * numCols + c]!;
            out[t * numRows + r] = sum;
          }
        }
      }
    }
  }

  embedding(out: Float32Array, table: WeightTensor, ids: Int32Array): void {
    this.checkWeight(table);
    const codec = codecFor(table.type);
    if (!codec) throw new Error(`reference embedding: unsupported type ${ggmlTypeName(table.type)}`);
    for (let t = 0; t < ids.length; t++) {
      codec.dequantize(table.data, ids[t]! * table.numCols, table.numCols, out, t * table.numCols);
    }
  }

  addRmsNorm(out: Float32Array, x: Float32Array, residual: Float32Array, weight: Float32Array, numTokens: number, eps: number): void {
    this.add(x, x, residual, numTokens * weight.length);
    this.rmsNorm(out, x, weight, numTokens, eps);
  }

  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, numTokens: number, eps: number): void {
    // as ggml: f32 squares summed in double, then f32 mean, sqrtf, 1.0f/
    const dim = weight.length;
    const eps32 = Math.fround(eps);
    for (let t = 0; t < numTokens; t++) {
      let sum = 0;
      for (let i = 0; i < dim; i++) sum += Math.fround(x[t * dim + i]! * x[t * dim + i]!);
      const mean = Math.fround(sum / dim);
      const scale = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(mean + eps32))));
      for (let i = 0; i < dim; i++) out[t * dim + i] = Math.fround(x[t * dim + i]! * scale) * weight[i]!;
    }
  }

  rope(x: Float32Array, numTokens: number, numHeads: number, headDim: number, positions: Int32Array, p: RopeParams): void {
    const half = p.numRotaryDims / 2;
    const thetaScale = Math.fround(Math.pow(p.freqBase, -2 / p.numRotaryDims));
    const attnFactor = Math.fround(p.attnFactor ?? 1);
    const cos = new Float32Array(half);
    const sin = new Float32Array(half);
    for (let t = 0; t < numTokens; t++) {
      // float32 iteration as ggml's rope cache does
      let theta = Math.fround(positions[t]!);
      for (let i = 0; i < half; i++) {
        const ff = p.freqFactors ? p.freqFactors[i]! : 1;
        const angle = Math.fround(p.freqScale * Math.fround(theta / ff));
        // × attnFactor in f32 after rounding, as ggml's rope_yarn (cosf(theta) * mscale)
        cos[i] = Math.fround(Math.fround(Math.cos(angle)) * attnFactor);
        sin[i] = Math.fround(Math.fround(Math.sin(angle)) * attnFactor);
        theta = Math.fround(theta * thetaScale);
      }
      for (let h = 0; h < numHeads; h++) {
        const base = (t * numHeads + h) * headDim;
        for (let i = 0; i < half; i++) {
          const i0 = p.mode === 'norm' ? base + 2 * i : base + i;
          const i1 = p.mode === 'norm' ? i0 + 1 : i0 + half;
          const x0 = x[i0]!;
          const x1 = x[i1]!;
          x[i0] = x0 * cos[i]! - x1 * sin[i]!;
          x[i1] = x0 * sin[i]! + x1 * cos[i]!;
        }
      }
    }
  }

  storeKv(kv: HostKvLayer, k: Float32Array, v: Float32Array, slotIds: Int32Array, numTokens: number): void {
    const kvDim = k.length / numTokens;
    for (let t = 0; t < numTokens; t++) {
      encodeKv(kv, kv.k, slotIds[t]! * kvDim, k, t * kvDim, kvDim);
      encodeKv(kv, kv.v, slotIds[t]! * kvDim, v, t * kvDim, kvDim);
    }
  }

  attentionBatch(
    out: Float32Array,
    q: Float32Array,
    kv: HostKvLayer,
    blockTables: Int32Array,
    blockTableStride: number,
    positions: Int32Array,
    numTokens: number,
    s: AttentionShape,
  ): void {
    const qDim = s.numHeads * s.headDim;
    for (let t = 0; t < numTokens; t++) {
      const table = blockTables.subarray(t * blockTableStride, (t + 1) * blockTableStride);
      this.attention(out.subarray(t * qDim, (t + 1) * qDim), q.subarray(t * qDim, (t + 1) * qDim), kv, table, positions.subarray(t, t + 1), 1, s);
    }
  }

  attention(out: Float32Array, q: Float32Array, layer: HostKvLayer, blockTable: Int32Array, positions: Int32Array, numTokens: number, s: AttentionShape): void {
    const kv: HostKvView = { ...layer, blockTable } as HostKvView;
    const { numHeads, numKvHeads, headDim, scale } = s;
    const window = s.window ?? 0;
    const cap = s.softcap ?? 0;
    const invCap = cap > 0 ? Math.fround(1 / cap) : 0;
    const kvDim = numKvHeads * headDim;
    const group = numHeads / numKvHeads;
    const qh = new Float32Array(headDim);
    const acc = new Float64Array(headDim);
    const isF16 = kv.dtype === 'f16';
    const loadK = kvDecoder(kv.dtype, kv.k);
    const loadV = kvDecoder(kv.dtype, kv.v);
    let scores = new Float32Array(0);
    for (let t = 0; t < numTokens; t++) {
      const numKeys = positions[t]! + 1;
      // a sliding window: keys before firstKey are masked (llama.cpp: p1 - p0 >= n_swa)
      const firstKey = window > 0 ? Math.max(0, numKeys - window) : 0;
      if (scores.length < numKeys) scores = new Float32Array(numKeys);
      for (let h = 0; h < numHeads; h++) {
        const kvOff = Math.floor(h / group) * headDim;
        const qBase = (t * numHeads + h) * headDim;
        for (let d = 0; d < headDim; d++) qh[d] = isF16 ? roundToF16(q[qBase + d]!) : q[qBase + d]!;
        let max = -Infinity;
        for (let j = firstKey; j < numKeys; j++) {
          const slot = kv.blockTable[Math.floor(j / kv.blockSize)]! * kv.blockSize + (j % kv.blockSize);
          const kBase = slot * kvDim + kvOff;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += qh[d]! * loadK(kBase + d);
          // soft-cap as llama.cpp: KQ × (1/cap), tanhf, × cap (each f32), then soft_max's scale
          const capped = cap > 0 ? Math.fround(Math.fround(Math.tanh(Math.fround(Math.fround(dot) * invCap))) * cap) : Math.fround(dot);
          const sc = capped * scale;
          scores[j] = sc;
          if (sc > max) max = sc;
        }
        let sum = 0;
        for (let j = firstKey; j < numKeys; j++) {
          const e = Math.exp(scores[j]! - max);
          scores[j] = e;
          sum += e;
        }
        acc.fill(0);
        for (let j = firstKey; j < numKeys; j++) {
          const slot = kv.blockTable[Math.floor(j / kv.blockSize)]! * kv.blockSize + (j % kv.blockSize);
          const vBase = slot * kvDim + kvOff;
          const p = scores[j]!;
          for (let d = 0; d < headDim; d++) acc[d]! += p * loadV(vBase + d);
        }
        for (let d = 0; d < headDim; d++) out[qBase + d] = acc[d]! / sum;
      }
    }
  }

  matmulSwiglu(out: Float32Array, w: WeightTensor, gateUp: Float32Array, numTokens: number): void {
    const n = w.numCols;
    const h = new Float32Array(numTokens * n);
    for (let t = 0; t < numTokens; t++) {
      this.swiglu(h.subarray(t * n, (t + 1) * n), gateUp.subarray(2 * t * n, (2 * t + 1) * n), gateUp.subarray((2 * t + 1) * n, (2 * t + 2) * n), n);
    }
    this.matmul(out, w, h, numTokens);
  }

  matmulGeglu(out: Float32Array, w: WeightTensor, gateUp: Float32Array, numTokens: number): void {
    const n = w.numCols;
    const h = new Float32Array(numTokens * n);
    for (let t = 0; t < numTokens; t++) {
      geglu(h.subarray(t * n, (t + 1) * n), gateUp.subarray(2 * t * n, (2 * t + 1) * n), gateUp.subarray((2 * t + 1) * n, (2 * t + 2) * n), n);
    }
    this.matmul(out, w, h, numTokens);
  }

  /** out[i] = silu(gate[i]) · up[i] for n elements (out may alias gate): matmulSwiglu's activations */
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    // ggml's vectorized silu on full 16-wide chunks, the scalar one on the tail
    const vectorEnd = n - (n % GGML_VEC_WIDTH);
    for (let i = 0; i < n; i++) {
      const silu = i < vectorEnd ? ggmlSilu(gate[i]!) : scalarSilu(gate[i]!);
      out[i] = silu * up[i]!;
    }
  }

  argmaxRows(out: Int32Array, x: Float32Array, numRows: number, rowLength: number): void {
    for (let r = 0; r < numRows; r++) out[r] = argmax(x.subarray(r * rowLength, (r + 1) * rowLength));
  }

  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  }

  scale(x: Float32Array, n: number, s: number): void {
    const s32 = Math.fround(s);
    for (let i = 0; i < n; i++) x[i] = x[i]! * s32;
  }

  softcap(x: Float32Array, n: number, cap: number): void {
    const cap32 = Math.fround(cap);
    const inv = Math.fround(1 / cap32);
    for (let i = 0; i < n; i++) x[i] = Math.fround(Math.tanh(Math.fround(x[i]! * inv))) * cap32;
  }

  addBias(x: Float32Array, bias: Float32Array, numTokens: number): void {
    const dim = bias.length;
    for (let t = 0; t < numTokens; t++) {
      for (let i = 0; i < dim; i++) x[t * dim + i] = x[t * dim + i]! + bias[i]!;
    }
  }
}

function f32View(data: Uint8Array, n: number): Float32Array {
  if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, n);
  return new Float32Array(data.slice(0, n * 4).buffer);
}

const F16_SCALE = (data: Uint8Array, byte: number): number => F16_TO_F32[data[byte]! | (data[byte + 1]! << 8)]!;

function dotQ8_0(w: Uint8Array, firstBlock: number, numBlocks: number, act: Q8Activations): number {
  let sum = 0;
  for (let b = 0; b < numBlocks; b++) {
    const base = (firstBlock + b) * 34;
    let isum = 0;
    for (let j = 0; j < 32; j++) isum += ((w[base + 2 + j]! << 24) >> 24) * act.qs[b * 32 + j]!;
    sum = fmaf(isum, Math.fround(F16_SCALE(w, base) * act.d[b]!), sum);
  }
  return sum;
}

function dotQ4_0(w: Uint8Array, firstBlock: number, numBlocks: number, act: Q8Activations): number {
  let sum = 0;
  for (let b = 0; b < numBlocks; b++) {
    const base = (firstBlock + b) * 18;
    let isum = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[base + 2 + j]!;
      isum += ((q & 0x0f) - 8) * act.qs[b * 32 + j]! + ((q >> 4) - 8) * act.qs[b * 32 + 16 + j]!;
    }
    sum = fmaf(isum, Math.fround(F16_SCALE(w, base) * act.d[b]!), sum);
  }
  return sum;
}

/** Σ a[i]·x[off + i] as ggml's AVX-512 f32 dot: 16 fma lanes, then a pairwise tree; n % 16 == 0 */
function dotF32Lanes(a: Float32Array, x: Float32Array, off: number, n: number, lanes: Float64Array): number {
  lanes.fill(0);
  for (let k = 0; k < n; k += GGML_VEC_WIDTH) {
    for (let l = 0; l < GGML_VEC_WIDTH; l++) lanes[l] = fmaf(x[off + k + l]!, a[k + l]!, lanes[l]!);
  }
  for (let width = GGML_VEC_WIDTH / 2; width >= 1; width /= 2) {
    for (let l = 0; l < width; l++) lanes[l] = Math.fround(lanes[l]! + lanes[l + width]!);
  }
  return lanes[0]!;
}
