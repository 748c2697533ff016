import { InvalidRequestError } from '../errors/engine-error.js';
import type { GgufFile } from '../formats/gguf/index.js';
import type { DeviceBuffer, KernelBackend, KvCache, KvCacheType, WeightHandle } from '../kernels/kernel-backend.js';
import { AttentionBlock, attentionWeightNames } from '../models/blocks/attention.js';
import { GatedMlp } from '../models/blocks/gated-mlp.js';
import { OutputHead } from '../models/blocks/output-head.js';
import { RmsNorm } from '../models/blocks/rms-norm.js';
import type { TensorShard } from '../models/blocks/tensor-shard.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import type { ModelConfig } from '../models/model-config.js';
import { WeightLoader } from '../models/weight-loader.js';
import { Workspace } from '../models/workspace.js';
import type { ShardedForwardResult } from './parallel-executor.js';
import { stageLayers } from './parallel-plan.js';
import type { Transport } from './transport.js';

interface ShardLayer {
  readonly attnNorm: RmsNorm;
  readonly attention: AttentionBlock;
  readonly ffnNorm: RmsNorm;
  readonly mlp: GatedMlp;
}

/** Where one worker sits in a ParallelPlan: rank = stage · tensorParallel + tpRank. */
export interface ShardPosition {
  readonly tensorParallel: number;
  readonly pipelineParallel: number;
  readonly stage: number;
  readonly tpRank: number;
}

/**
 * One worker's shard of a LlamaModel-family model (llama, qwen2, qwen3): the layers of its
 * pipeline stage (stageLayers), each with its tensor-parallel share of the heads and FFN features
 * (the blocks' TensorShard), and their KV cache. Stage 0 also holds the token embedding; the last
 * stage the output norm and its TP rank's rows of the output head (vocab split; the ranks'
 * logits are gathered). Norms are whole on every rank.
 *
 * The forward pass is LlamaModel's, step for step, with two all-reduces per layer over the
 * stage's TP workers (after the attention output and the FFN down projections, each a partial
 * sum over this rank's heads or features) and a hand-over of the residual stream from stage to
 * stage. Summation order: each all-reduce adds the ranks' partial sums in rank order (see
 * Transport.allReduceSum), where one worker's matmul accumulates all the K columns (its quantized
 * activation blocks) in one sum: the results differ from one worker's by f32 rounding (about 1e-7
 * relative per layer). Everything else (q/k/v, gate/up, the head's rows, norms, attention over
 * whole heads, the residual adds) is the same arithmetic as one worker's; pipeline parallelism
 * alone changes nothing but where the layers run.
 */
export class ShardedLlama {
  private readonly ws: Workspace;
  private readonly tokenEmbedding: WeightHandle | undefined;
  private readonly layers: ShardLayer[];
  private readonly head: OutputHead | undefined;
  private readonly isHeadSplit: boolean;
  private readonly numKvHeads: number;
  private kv: KvCache | undefined;
  /** host copy of a residual stream going to or coming from a neighbouring stage, grown on demand */
  private handOver = new Float32Array(0);

  constructor(
    readonly config: ModelConfig,
    file: GgufFile,
    readonly backend: KernelBackend,
    private readonly position: ShardPosition,
    /** this rank's end of the whole group (stage-to-stage transfers) */
    private readonly transport: Transport,
    /** the stage's tensor-parallel workers (all-reduces, the head's gather) */
    private readonly tpGroup: Transport,
  ) {
    const c = config;
    const { tensorParallel: tp, pipelineParallel: pp, stage, tpRank } = position;
    const shard: TensorShard | undefined = tp > 1 ? { rank: tpRank, worldSize: tp } : undefined;
    const w = new WeightLoader(file);
    const ws = (this.ws = new Workspace(backend));
    this.numKvHeads = c.numKvHeads / tp;
    // the last stage reads it for its shape (and as the head, when tied); only stage 0 uploads it for lookups
    const tokenEmbedding = stage === 0 || stage === pp - 1 ? w.matrix('token_embd.weight', c.vocabSize, c.hiddenSize) : undefined;
    this.tokenEmbedding = stage === 0 ? ws.uploadWeight(tokenEmbedding!, 'embedding') : undefined;
    const rope = { ...c.rope, freqFactors: w.optionalVector('rope_freqs.weight', c.rope.numRotaryDims / 2) };
    const { first, end } = stageLayers(c.numLayers, stage, pp);
    this.layers = Array.from({ length: end - first }, (_, j) => {
      const i = first + j;
      const blk = `blk.${i}`;
      return {
        attnNorm: RmsNorm.load(w, ws, `${blk}.attn_norm.weight`, c.hiddenSize, c.normEps),
        attention: AttentionBlock.load(w, ws, c, attentionWeightNames(i), rope, i, shard),
        ffnNorm: RmsNorm.load(w, ws, `${blk}.ffn_norm.weight`, c.hiddenSize, c.normEps),
        mlp: GatedMlp.load(w, ws, c, { gate: `${blk}.ffn_gate.weight`, up: `${blk}.ffn_up.weight`, gateUp: `${blk}.ffn_gate_up.weight`, down: `${blk}.ffn_down.weight` }, shard),
      };
    });
    // the head's vocab rows split among the TP ranks where they divide evenly, else whole on each
    this.isHeadSplit = shard !== undefined && c.vocabSize % tp === 0;
    if (stage === pp - 1) {
      const outputNorm = RmsNorm.load(w, ws, 'output_norm.weight', c.hiddenSize, c.normEps);
      this.head = OutputHead.load(w, ws, outputNorm, 'output.weight', tokenEmbedding!, undefined, this.isHeadSplit ? shard : undefined);
    }
    backend.planReadAhead?.([...this.layers.flatMap((l) => [...l.attention.matmulWeights, ...l.mlp.matmulWeights]), ...(this.head ? [this.head.output] : [])]);
  }

  get numLayers(): number {
    return this.layers.length;
  }

  /** this worker's share of a paged KV cache: its layers, its KV heads; replaces an earlier one */
  allocateKvCache(spec: { readonly numBlocks: number; readonly blockSize: number; readonly dtype: KvCacheType }): void {
    this.kv?.dispose();
    this.kv = undefined;
    this.kv = this.backend.allocateKvCache({ ...spec, numLayers: this.layers.length, kvDim: this.numKvHeads * this.config.headDim });
  }

  /**
   * The step's micro-batches through this stage in order: each received from the previous stage
   * (or embedded, on stage 0), run through this stage's layers, and sent on (or, on the last
   * stage, through the head). The stages run at once, so stage s works on micro-batch m while
   * stage s + 1 works on m - 1. Returns the outputs on the last stage's TP rank 0, else undefined.
   */
  async forward(microBatches: readonly ForwardBatch[]): Promise<ShardedForwardResult | undefined> {
    const kv = this.kv;
    if (!kv) throw new InvalidRequestError('INVALID_ARGUMENT', 'forward before allocateKvCache');
    const outputs: ShardedForwardResult[] = [];
    for (const batch of microBatches) {
      const out = await this.forwardOne(batch, kv);
      if (out) outputs.push(out);
    }
    return this.head && this.position.tpRank === 0 ? concatOutputs(outputs) : undefined;
  }

  private async forwardOne(batch: ForwardBatch, kv: KvCache): Promise<ShardedForwardResult | undefined> {
    const b = this.backend;
    const { tensorParallel: tp, pipelineParallel: pp, stage } = this.position;
    const n = batch.tokenIds.length;
    const h = this.config.hiddenSize;
    const x = this.ws.get('x', n * h); //       [n, hiddenSize] residual stream
    const xn = this.ws.get('xn', n * h); //     [n, hiddenSize] normed
    const proj = this.ws.get('proj', n * h); // [n, hiddenSize] a block's output (this rank's partial sum, then all-reduced)
    const rank = this.transport.rank;
    if (stage === 0) b.embedding(x, this.tokenEmbedding!, batch.tokenIds);
    else {
      const host = this.hostResidual(n * h);
      await this.transport.recv(rank - tp, host);
      b.write(x, host);
    }
    this.layers[0]!.attnNorm.forward(xn, x, n);
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      layer.attention.forward(proj, xn, batch, kv.layer(i));
      await this.allReduce(proj);
      layer.ffnNorm.addForward(xn, x, proj, n);
      layer.mlp.forward(proj, xn, n);
      await this.allReduce(proj);
      const next = this.layers[i + 1];
      if (next) next.attnNorm.addForward(xn, x, proj, n);
      else b.add(x, x, proj, n * h);
    }
    if (stage < pp - 1) {
      const host = this.hostResidual(n * h);
      host.set(b.read(x));
      await this.transport.send(rank + tp, host);
      return undefined;
    }
    return this.headForward(x, batch);
  }

  /** the residual hand-over buffer, [length] */
  private hostResidual(length: number): Float32Array {
    if (this.handOver.length < length) this.handOver = new Float32Array(length);
    return this.handOver.subarray(0, length);
  }

  /** buf ← Σ over the stage's TP ranks of their buf */
  private async allReduce(buf: DeviceBuffer): Promise<void> {
    if (this.tpGroup.worldSize === 1) return;
    const host = this.backend.read(buf);
    await this.tpGroup.allReduceSum(host);
    this.backend.write(buf, host);
  }

  private async headForward(x: DeviceBuffer, batch: ForwardBatch): Promise<ShardedForwardResult | undefined> {
    const b = this.backend;
    const c = this.config;
    const head = this.head!;
    const numOut = batch.logitRows.length;
    const local = b.read(head.forward(x, batch.logitRows, batch.hiddenRows)); // [numOut, vocab / tp] or [numOut, vocab]
    let logits: Float32Array;
    if (this.isHeadSplit) {
      const tp = this.tpGroup.worldSize;
      const part = c.vocabSize / tp;
      const gathered = new Float32Array(tp * numOut * part); // [tp, numOut, part]
      await this.tpGroup.allGather(gathered, local.subarray(0, numOut * part));
      if (this.position.tpRank !== 0) return undefined;
      if (numOut === 1) logits = gathered; // [tp, 1, part] is [1, vocab]
      else {
        logits = new Float32Array(numOut * c.vocabSize); // [numOut, vocab]
        for (let r = 0; r < tp; r++) {
          for (let row = 0; row < numOut; row++) logits.set(gathered.subarray((r * numOut + row) * part, (r * numOut + row + 1) * part), row * c.vocabSize + r * part);
        }
      }
    } else {
      if (this.position.tpRank !== 0) return undefined;
      logits = local.slice(0, numOut * c.vocabSize);
    }
    const hidden = b.read(head.hidden).slice(0, batch.hiddenRows.length * c.hiddenSize);
    const argmax = new Int32Array(numOut);
    const all = this.ws.get('gatheredLogits', numOut * c.vocabSize);
    b.write(all, logits);
    b.argmaxRows(argmax, all, numOut, c.vocabSize);
    return { logits, argmax, hidden };
  }

  /** frees the weights, scratch and KV cache; twice is harmless */
  dispose(): void {
    this.kv?.dispose();
    this.kv = undefined;
    this.ws.dispose();
  }
}

/** the micro-batches' outputs one after another */
function concatOutputs(outputs: readonly ShardedForwardResult[]): ShardedForwardResult {
  if (outputs.length === 1) return outputs[0]!;
  const concat = <T extends Float32Array | Int32Array>(parts: readonly T[], make: (n: number) => T): T => {
    const out = make(parts.reduce((sum, p) => sum + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  };
  return {
    logits: concat(outputs.map((o) => o.logits), (n) => new Float32Array(n)),
    argmax: concat(outputs.map((o) => o.argmax), (n) => new Int32Array(n)),
    hidden: concat(outputs.map((o) => o.hidden), (n) => new Float32Array(n)),
  };
}
