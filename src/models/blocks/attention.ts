import type { AttentionShape, DeviceBuffer, KernelBackend, KvLayerHandle, RopeParams, WeightHandle, WeightTensor } from '../../kernels/kernel-backend.js';
import type { ForwardBatch } from '../forward-batch.js';
import { isSlidingWindowLayer, type ModelConfig } from '../model-config.js';
import type { WeightLoader } from '../weight-loader.js';
import type { Workspace } from '../workspace.js';
import { FusedLinear } from './fused-linear.js';
import { RmsNorm } from './rms-norm.js';
import { shardColumns, shardRows, shardVector, type TensorShard } from './tensor-shard.js';

/** GGUF names of one layer's attention weights */
export interface AttentionWeightNames {
  readonly q: string;
  readonly k: string;
  readonly v: string;
  /** the stacked q, k and v */
  readonly qkv: string;
  readonly output: string;
  /** biases of q, k and v (read when ModelConfig.hasAttentionBias) */
  readonly qBias: string;
  readonly kBias: string;
  readonly vBias: string;
  /** per-head RMS norm weights of q and k, [headDim] (read when ModelConfig.hasQkNorm) */
  readonly qNorm: string;
  readonly kNorm: string;
}

/** Layer `layer`'s attention weight names, as llama.cpp writes them (blk.N.attn_q.weight, ...) */
export function attentionWeightNames(layer: number): AttentionWeightNames {
  const blk = `blk.${layer}`;
  return {
    q: `${blk}.attn_q.weight`,
    k: `${blk}.attn_k.weight`,
    v: `${blk}.attn_v.weight`,
    qkv: `${blk}.attn_qkv.weight`,
    output: `${blk}.attn_output.weight`,
    qBias: `${blk}.attn_q.bias`,
    kBias: `${blk}.attn_k.bias`,
    vBias: `${blk}.attn_v.bias`,
    qNorm: `${blk}.attn_q_norm.weight`,
    kNorm: `${blk}.attn_k_norm.weight`,
  };
}

/** q, k and v biases: [numHeads · headDim], [numKvHeads · headDim], [numKvHeads · headDim] f32, on the backend */
export interface QkvBias {
  readonly q: DeviceBuffer;
  readonly k: DeviceBuffer;
  readonly v: DeviceBuffer;
}

/** the RMS norms applied to each head of q and of k before rope (weights [headDim]) */
export interface QkNorm {
  readonly q: RmsNorm;
  readonly k: RmsNorm;
}

/**
 * Causal self-attention over the paged KV cache: q/k/v projections (plus their biases, Qwen2),
 * per-head RMS norm of q and k (Qwen3, Gemma 3), rope, q scaled (Gemma's query_pre_attn_scalar),
 * K/V stored, attention (grouped-query when numKvHeads < numHeads; within a sliding window on the
 * config's local layers, scores soft-capped with attentionSoftcap), output projection.
 */
export class AttentionBlock {
  private readonly shape: AttentionShape;

  constructor(
    private readonly backend: KernelBackend,
    private readonly ws: Workspace,
    /** the model's, or with tensor parallelism a shard's (numHeads and numKvHeads this worker's) */
    private readonly config: ModelConfig,
    /** q, k and v rows: [numHeads · headDim, numKvHeads · headDim, numKvHeads · headDim] × hiddenSize */
    private readonly qkv: FusedLinear,
    /** [hiddenSize, numHeads · headDim] */
    private readonly output: WeightHandle,
    private readonly rope: RopeParams,
    private readonly bias?: QkvBias,
    private readonly qkNorm?: QkNorm,
    /** a query attends to this many most recent positions only (this layer's sliding window) */
    window?: number,
    /** the output projection's per-tensor scale (WeightLoader.outputScale) */
    private readonly outputScale?: number,
  ) {
    // with a query scale (Gemma) q is scaled before attention, as llama.cpp does, and the scores are not
    const scale = config.queryScale !== undefined ? 1 : 1 / Math.sqrt(config.headDim);
    this.shape = { numHeads: config.numHeads, numKvHeads: config.numKvHeads, headDim: config.headDim, scale, window, softcap: config.attentionSoftcap };
  }

  /**
   * Layer `layer`'s attention: within c.slidingWindow, with c.localRope, where that layer is a
   * sliding-window one (isSlidingWindowLayer); `rope` on the others.
   *
   * With `shard`, this worker's numHeads / worldSize query heads and numKvHeads / worldSize KV
   * heads (whole heads of q, k and v and of their biases; the q/k norms are per head and whole),
   * and the output projection's columns that multiply them: forward's output is then a partial
   * sum, which the caller all-reduces, and the KV cache it is given holds its KV heads only.
   */
  static load(w: WeightLoader, ws: Workspace, c: ModelConfig, names: AttentionWeightNames, rope: RopeParams, layer: number, shard?: TensorShard): AttentionBlock {
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const split = shard && ((part: WeightTensor) => shardRows(part, shard, c.headDim));
    const qkv = FusedLinear.load(w, ws, names.qkv, [[names.q, qDim], [names.k, kvDim], [names.v, kvDim]], c.hiddenSize, split);
    const fullOutput = w.matrix(names.output, c.hiddenSize, qDim);
    const output = shard ? shardColumns(fullOutput, shard) : fullOutput;
    const biasOf = (name: string, length: number): DeviceBuffer => {
      const values = w.vector(name, length);
      return ws.uploadVector(shard ? shardVector(values, shard) : values);
    };
    const bias = c.hasAttentionBias ? { q: biasOf(names.qBias, qDim), k: biasOf(names.kBias, kvDim), v: biasOf(names.vBias, kvDim) } : undefined;
    const qkNorm = c.hasQkNorm
      ? { q: RmsNorm.load(w, ws, names.qNorm, c.headDim, c.normEps), k: RmsNorm.load(w, ws, names.kNorm, c.headDim, c.normEps) }
      : undefined;
    const isLocal = isSlidingWindowLayer(c, layer);
    const layerRope = isLocal && c.localRope ? c.localRope : rope;
    const shardConfig = shard ? { ...c, numHeads: c.numHeads / shard.worldSize, numKvHeads: c.numKvHeads / shard.worldSize } : c;
    return new AttentionBlock(ws.backend, ws, shardConfig, qkv, w.upload(ws, output), layerRope, bias, qkNorm, isLocal ? c.slidingWindow : undefined, w.outputScale(names.output));
  }

  /** the weights forward multiplies by, in call order */
  get matmulWeights(): WeightHandle[] {
    return [...this.qkv.weights, this.output];
  }

  /**
   * out: [numTokens, hiddenSize] the attention output, projected; xn: [numTokens, hiddenSize] the
   * normed input. Writes the batch's K and V into `kv` (this layer's cache) first.
   */
  forward(out: DeviceBuffer, xn: DeviceBuffer, batch: ForwardBatch, kv: KvLayerHandle): void {
    const b = this.backend;
    const c = this.config;
    const n = batch.tokenIds.length;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const q = this.ws.get('q', n * qDim); //       [n, numHeads, headDim]
    const k = this.ws.get('k', n * kvDim); //      [n, numKvHeads, headDim]
    const v = this.ws.get('v', n * kvDim); //      [n, numKvHeads, headDim]
    const attn = this.ws.get('attn', n * qDim); // [n, numHeads, headDim]
    this.qkv.forwardSplit([q, k, v], xn, n);
    if (this.bias) {
      b.addBias(q, this.bias.q, n);
      b.addBias(k, this.bias.k, n);
      b.addBias(v, this.bias.v, n);
    }
    if (this.qkNorm) {
      this.qkNorm.q.forward(q, q, n * c.numHeads); // each head's headDim values a row
      this.qkNorm.k.forward(k, k, n * c.numKvHeads);
    }
    b.rope(q, n, c.numHeads, c.headDim, batch.positions, this.rope);
    b.rope(k, n, c.numKvHeads, c.headDim, batch.positions, this.rope);
    if (c.queryScale !== undefined) b.scale(q, n * qDim, c.queryScale);
    b.storeKv(kv, k, v, batch.slotIds, n);
    for (const r of batch.attentionRuns) {
      const isAll = r.start === 0 && r.numTokens === n;
      const attnRows = isAll ? attn : b.view(attn, r.start * qDim, r.numTokens * qDim); // [r.numTokens, numHeads, headDim]
      const qRows = isAll ? q : b.view(q, r.start * qDim, r.numTokens * qDim);
      const positions = isAll ? batch.positions : batch.positions.subarray(r.start, r.start + r.numTokens);
      if (r.blockTables) b.attentionBatch(attnRows, qRows, kv, r.blockTables, r.blockTableStride, positions, r.numTokens, this.shape);
      else b.attention(attnRows, qRows, kv, r.blockTable, positions, r.numTokens, this.shape);
    }
    b.matmul(out, this.output, attn, n);
    if (this.outputScale !== undefined) b.scale(out, n * c.hiddenSize, this.outputScale);
  }
}
