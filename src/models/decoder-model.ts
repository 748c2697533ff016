import { invariant } from '../errors/engine-error.js';
import type { GgufFile } from '../formats/gguf/index.js';
import type { DeviceBuffer, KernelBackend, KvCache, WeightHandle } from '../kernels/kernel-backend.js';
import { OutputHead } from './blocks/output-head.js';
import { RmsNorm } from './blocks/rms-norm.js';
import type { TensorShard } from './blocks/tensor-shard.js';
import type { CausalLM } from './causal-lm.js';
import type { ForwardBatch } from './forward-batch.js';
import type { ModelConfig } from './model-config.js';
import { shardLayers, type ModelShard } from './model-shard.js';
import { WeightLoader } from './weight-loader.js';
import { Workspace } from './workspace.js';

/**
 * What every decoder-only architecture shares around its layers: the token embedding (× the
 * config's embeddingScale), the last norm and the output head (soft-capped by the config's
 * finalLogitSoftcap), and the forward pass embed → layers → head. Each architecture's file loads
 * its layers and writes forwardLayers, once: the whole model runs it here, and a worker of a
 * parallel group (src/parallel/sharded-model.ts) runs the same code on its shard, all-reducing
 * what it yields.
 *
 * With a ModelShard the model holds only its part (model-shard.ts): the embedding on stage 0, the
 * head on the last stage (split by vocabulary rows among the TP ranks where they divide evenly,
 * `isHeadSplit`), its stage's layers with their TP share of heads and features.
 */
export abstract class DecoderModel implements CausalLM {
  protected readonly ws: Workspace;
  /** reads the file's tensors while the subclass loads its layers */
  protected readonly loader: WeightLoader;
  /** the global index of this model's first layer and one past its last */
  protected readonly layerRange: { readonly first: number; readonly end: number };
  /** [vocabSize, hiddenSize], uploaded for lookups (and for the head's matmul when tied); absent past stage 0 */
  private readonly tokenEmbedding: WeightHandle | undefined;
  /** the last norm and the output head; absent before the last stage */
  readonly head: OutputHead | undefined;
  /** the head holds this TP rank's vocabSize / worldSize rows only: its logits are a slice of each row */
  readonly isHeadSplit: boolean;

  protected constructor(
    readonly config: ModelConfig,
    file: GgufFile,
    readonly backend: KernelBackend,
    readonly shard: ModelShard | undefined,
  ) {
    const c = config;
    const w = (this.loader = new WeightLoader(file));
    const ws = (this.ws = new Workspace(backend));
    this.layerRange = shardLayers(c.numLayers, shard);
    const hasEmbedding = (shard?.stage ?? 0) === 0;
    const hasHead = shard === undefined || shard.stage === shard.numStages - 1;
    const tensor = shard?.tensor;
    const headShard: TensorShard | undefined = hasHead && tensor && c.vocabSize % tensor.worldSize === 0 ? tensor : undefined;
    this.isHeadSplit = headShard !== undefined;
    const isTied = !w.has('output.weight');
    // tied, with the embedding and a whole head here: one copy, uploaded for the head's matmul,
    // whose layout the backends' embedding lookups read too (a plain table and a packed head were
    // two copies). The bytes are a local of this constructor: garbage once their upload copied them
    const isShared = isTied && hasEmbedding && hasHead && !headShard;
    // a tied head is the embedding, so the last stage reads it too
    const table = hasEmbedding || (hasHead && isTied) ? w.matrix('token_embd.weight', c.vocabSize, c.hiddenSize) : undefined;
    const tokenEmbedding = hasEmbedding ? ws.uploadWeight(table!, isShared ? 'matmul' : 'embedding') : undefined;
    this.tokenEmbedding = tokenEmbedding;
    if (hasHead) {
      const outputNorm = RmsNorm.load(w, ws, 'output_norm.weight', c.hiddenSize, c.normEps);
      this.head = OutputHead.load(w, ws, outputNorm, 'output.weight', c, () => (isShared ? tokenEmbedding! : table!), c.finalLogitSoftcap, headShard);
    }
  }

  /** how many layers this model holds (its stage's, with a shard) */
  get numLayers(): number {
    return this.layerRange.end - this.layerRange.first;
  }

  /** the KV cache this model writes: its layers, its KV heads (numKvHeads / worldSize with a tensor shard) */
  get kvCacheShape(): { readonly numLayers: number; readonly kvDim: number } {
    const numKvHeads = this.config.numKvHeads / (this.shard?.tensor?.worldSize ?? 1);
    return { numLayers: this.numLayers, kvDim: numKvHeads * this.config.headDim };
  }

  /**
   * The subclass's last step of loading, its layers loaded: a whole model checks that it read every
   * tensor of the file (a shard reads its part only), and the backend may read ahead the weights in
   * forward's call order (`layerWeights`, then the head's), so that a decode step reads each once.
   */
  protected completeLoad(layerWeights: readonly WeightHandle[]): void {
    if (!this.shard) this.loader.checkAllUsed(this.config.architecture);
    this.backend.planReadAhead?.([...layerWeights, ...(this.head ? [this.head.output] : [])]);
  }

  /**
   * Runs this model's layers over x ([numTokens, hiddenSize], the residual stream, updated in
   * place), writing K/V into `kv` (this model's layers, numbered from 0). Yields each block output
   * that with a tensor shard is this rank's partial sum (after the attention output projection,
   * after the FFN down projection): the caller sums it over the stage's ranks in place before it
   * resumes the generator. Whole, there is nothing to sum: forward just resumes it.
   */
  abstract forwardLayers(x: DeviceBuffer, batch: ForwardBatch, kv: KvCache): Generator<DeviceBuffer, void, undefined>;

  /** x: [numTokens, hiddenSize] ← the batch's token embeddings (× embeddingScale); stage 0 only */
  embed(x: DeviceBuffer, batch: ForwardBatch): void {
    invariant(this.tokenEmbedding, 'embed on a shard without the token embedding');
    const n = batch.tokenIds.length;
    this.backend.embedding(x, this.tokenEmbedding, batch.tokenIds);
    if (this.config.embeddingScale !== undefined) this.backend.scale(x, n * this.config.hiddenSize, this.config.embeddingScale);
  }

  /**
   * Runs the batch through the model, writing K/V into `kv`. Returns [logitRows.length, vocabSize]
   * logits on the backend, in a buffer this model reuses (valid until the next forward: no 16 MB
   * allocation, page faults and garbage per step of a 32-sequence batch with a 128K vocabulary).
   * A whole model only (a shard runs by ShardedModel).
   */
  forward(batch: ForwardBatch, kv: KvCache): DeviceBuffer {
    invariant(!this.shard, 'forward on a shard: ShardedModel runs one');
    const x = this.ws.get('x', batch.tokenIds.length * this.config.hiddenSize); // [n, hiddenSize] residual stream
    this.embed(x, batch);
    const layers = this.forwardLayers(x, batch, kv);
    while (!layers.next().done); // whole blocks: their outputs are whole sums already
    return this.head!.forward(x, batch.logitRows, batch.hiddenRows);
  }

  /** [batch.hiddenRows.length, hiddenSize] the last forward's normed hidden rows (for pooling) */
  hiddenRows(): DeviceBuffer {
    invariant(this.head, 'hiddenRows on a shard without the head');
    return this.head.hidden;
  }

  argmaxRows(logits: DeviceBuffer, numRows: number): Int32Array {
    const out = this.ws.getInt('argmax', numRows);
    this.backend.argmaxRows(out, logits, numRows, this.config.vocabSize);
    return out;
  }

  /** frees the uploaded weights and the scratch buffers (the backend stays the caller's); twice is harmless */
  dispose(): void {
    this.ws.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
