import { InvalidRequestError } from '../errors/engine-error.js';
import type { DeviceBuffer, KvCache, KvCacheType } from '../kernels/kernel-backend.js';
import type { DecoderModel } from '../models/decoder-model.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import type { ModelConfig } from '../models/model-config.js';
import type { ModelShard } from '../models/model-shard.js';
import { Workspace } from '../models/workspace.js';
import type { ShardedForwardResult } from './parallel-executor.js';
import type { Transport } from './transport.js';

/** Where one worker sits in a ParallelPlan: rank = stage · tensorParallel + tpRank. */
export interface ShardPosition {
  readonly tensorParallel: number;
  readonly pipelineParallel: number;
  readonly stage: number;
  readonly tpRank: number;
}

/** the part of the model a worker at `position` loads (createModel's shard) */
export function modelShardAt(position: ShardPosition): ModelShard {
  const { tensorParallel: tp, pipelineParallel: pp, stage, tpRank } = position;
  return { tensor: tp > 1 ? { rank: tpRank, worldSize: tp } : undefined, stage, numStages: pp };
}

/**
 * One worker's shard of a model of any architecture: the DecoderModel the registry builds with
 * this worker's ModelShard (its stage's layers, its TP share of heads and features, the
 * embedding on stage 0, the head on the last stage), run by that architecture's own
 * forwardLayers. This class adds what is between the workers: the residual stream received from
 * the previous stage (or embedded, on stage 0) and sent to the next one, an all-reduce over the
 * stage's TP workers of every partial sum forwardLayers yields (the attention output and the FFN
 * down projections), and the gather of the head's vocabulary slices on TP rank 0.
 *
 * Summation order: each all-reduce adds the ranks' partial sums in rank order (see
 * Transport.allReduceSum), where one worker's matmul accumulates all the K columns (its quantized
 * activation blocks) in one sum: the results differ from one worker's by f32 rounding (about 1e-7
 * relative per layer). Everything else (q/k/v, gate/up, the head's rows, norms, attention over
 * whole heads, the residual adds) is the same arithmetic as one worker's; pipeline parallelism
 * alone changes nothing but where the layers run.
 */
export class ShardedModel {
  /** the residual stream and the gathered logits */
  private readonly ws: Workspace;
  private kv: KvCache | undefined;
  /** host copy of a residual stream going to or coming from a neighbouring stage, grown on demand */
  private handOver = new Float32Array(0);

  constructor(
    private readonly model: DecoderModel,
    private readonly position: ShardPosition,
    /** this rank's end of the whole group (stage-to-stage transfers) */
    private readonly transport: Transport,
    /** the stage's tensor-parallel workers (all-reduces, the head's gather) */
    private readonly tpGroup: Transport,
  ) {
    this.ws = new Workspace(model.backend);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  /** this worker's share of a paged KV cache: its layers, its KV heads; replaces an earlier one */
  allocateKvCache(spec: { readonly numBlocks: number; readonly blockSize: number; readonly dtype: KvCacheType }): void {
    this.kv?.dispose();
    this.kv = undefined;
    this.kv = this.model.backend.allocateKvCache({ ...spec, ...this.model.kvCacheShape });
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
    return this.model.head && this.position.tpRank === 0 ? concatOutputs(outputs) : undefined;
  }

  private async forwardOne(batch: ForwardBatch, kv: KvCache): Promise<ShardedForwardResult | undefined> {
    const b = this.model.backend;
    const { tensorParallel: tp, pipelineParallel: pp, stage } = this.position;
    const n = batch.tokenIds.length;
    const h = this.config.hiddenSize;
    const x = this.ws.get('x', n * h); // [n, hiddenSize] residual stream
    const rank = this.transport.rank;
    if (stage === 0) this.model.embed(x, batch);
    else {
      const host = this.hostResidual(n * h);
      await this.transport.recv(rank - tp, host);
      b.write(x, host);
    }
    for (const partial of this.model.forwardLayers(x, batch, kv)) await this.allReduce(partial);
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
    const host = this.model.backend.read(buf);
    await this.tpGroup.allReduceSum(host);
    this.model.backend.write(buf, host);
  }

  private async headForward(x: DeviceBuffer, batch: ForwardBatch): Promise<ShardedForwardResult | undefined> {
    const b = this.model.backend;
    const c = this.config;
    const head = this.model.head!;
    const numOut = batch.logitRows.length;
    const local = b.read(head.forward(x, batch.logitRows, batch.hiddenRows)); // [numOut, vocab / tp] or [numOut, vocab]
    let logits: Float32Array;
    if (this.model.isHeadSplit) {
      const tp = this.tpGroup.worldSize;
      const part = c.vocabSize / tp;
      // only TP rank 0 reports: the others send it their slices and are done (no all-gather, which
      // would make them take rank 0's slices too and wait for its head)
      if (this.position.tpRank !== 0) {
        await this.tpGroup.send(0, local.subarray(0, numOut * part));
        return undefined;
      }
      const gathered = new Float32Array(tp * numOut * part); // [tp, numOut, part]
      gathered.set(local.subarray(0, numOut * part));
      for (let r = 1; r < tp; r++) await this.tpGroup.recv(r, gathered.subarray(r * numOut * part, (r + 1) * numOut * part));
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

  /** frees the model (its weights and scratch), the KV cache and the residual buffers; twice is harmless */
  dispose(): void {
    this.kv?.dispose();
    this.kv = undefined;
    this.ws.dispose();
    this.model.dispose();
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
