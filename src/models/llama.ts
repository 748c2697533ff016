import { ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath } from '../errors/untrusted-text.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { DeviceBuffer, KernelBackend, KvCache, RopeParams, WeightHandle } from '../kernels/kernel-backend.js';
import { AttentionBlock, attentionWeightNames } from './blocks/attention.js';
import { GatedMlp } from './blocks/gated-mlp.js';
import { OutputHead } from './blocks/output-head.js';
import { RmsNorm } from './blocks/rms-norm.js';
import type { CausalLM } from './causal-lm.js';
import type { ForwardBatch } from './forward-batch.js';
import { readGgufConfig } from './gguf-config.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';
import { WeightLoader } from './weight-loader.js';
import { Workspace } from './workspace.js';

/**
 * Llama hyperparameters: the common GGUF keys, adjacent-pair rope, SwiGLU, and a sliding window on
 * every layer when `llama.attention.sliding_window` is given (Mistral 7B v0.1's 4096: each query
 * attends to its 4096 most recent positions, as Mistral's reference code does).
 */
export function parseLlamaConfig(file: GgufFile): ModelConfig {
  const windowKey = 'llama.attention.sliding_window';
  const slidingWindow = file.metadata.has(windowKey) ? new MetadataReader(file.metadata, file.path).number(windowKey) : undefined;
  if (slidingWindow !== undefined && (!Number.isInteger(slidingWindow) || slidingWindow <= 0)) {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `${untrustedPath(file.path)}: invalid llama hyperparameters: attention.sliding_window = ${slidingWindow} (must be a positive integer)`);
  }
  return validateModelConfig({ ...readGgufConfig(file, 'llama', 'norm'), activation: 'silu', slidingWindow }, file.path);
}

interface LlamaLayer {
  readonly attnNorm: RmsNorm;
  readonly attention: AttentionBlock;
  readonly ffnNorm: RmsNorm;
  readonly mlp: GatedMlp;
}

/** Where an architecture with Llama's layers keeps what Llama keeps elsewhere (Phi-3: phi3.ts). */
export interface LlamaLayout {
  /** every layer's rope, its tensors read through `w` (default: the config's, rope_freqs.weight as frequency factors) */
  readonly rope?: (w: WeightLoader) => RopeParams;
  /** the tensor with gate and up stacked, used when a file has no ffn_gate: blk.N.<this>.weight (default ffn_gate_up) */
  readonly gateUp?: string;
}

/**
 * Llama decoder (Llama 2/3, Mistral, and GGUFs converted with arch 'llama'): pre-norm layers of
 * attention and a SwiGLU MLP, each added to the residual stream, then a last norm and the output
 * head. Weight names are llama.cpp's. Qwen2 and Qwen3 have these layers too (qwen2.ts, qwen3.ts):
 * their q/k/v biases and q/k norms are options of the attention block, read when the config has
 * them.
 */
export class LlamaModel implements CausalLM {
  private readonly tokenEmbedding: WeightHandle;
  private readonly layers: LlamaLayer[];
  private readonly head: OutputHead;
  private readonly ws: Workspace;

  constructor(
    readonly config: ModelConfig,
    file: GgufFile,
    readonly backend: KernelBackend,
    layout: LlamaLayout = {},
  ) {
    const c = config;
    const w = new WeightLoader(file);
    const ws = (this.ws = new Workspace(backend));
    // tied (no output.weight): one copy, uploaded for the output head's matmul, whose layout the
    // backends' embedding lookups read too, where a plain table and a packed head were two copies.
    // The bytes read from the file are not kept in a variable: where the upload copies them (a
    // packed head), they are garbage at once, not held for the rest of the load (147 MB for 1B Q4_0)
    const isTied = !w.has('output.weight');
    this.tokenEmbedding = ws.uploadWeight(w.matrix('token_embd.weight', c.vocabSize, c.hiddenSize), isTied ? 'matmul' : 'embedding');
    const rope = layout.rope?.(w) ?? { ...c.rope, freqFactors: w.optionalVector('rope_freqs.weight', c.rope.numRotaryDims / 2) };
    this.layers = Array.from({ length: c.numLayers }, (_, i) => {
      const blk = `blk.${i}`;
      return {
        attnNorm: RmsNorm.load(w, ws, `${blk}.attn_norm.weight`, c.hiddenSize, c.normEps),
        attention: AttentionBlock.load(w, ws, c, attentionWeightNames(i), rope, i),
        ffnNorm: RmsNorm.load(w, ws, `${blk}.ffn_norm.weight`, c.hiddenSize, c.normEps),
        mlp: GatedMlp.load(w, ws, c, {
          gate: `${blk}.ffn_gate.weight`,
          up: `${blk}.ffn_up.weight`,
          gateUp: `${blk}.${layout.gateUp ?? 'ffn_gate_up'}.weight`,
          down: `${blk}.ffn_down.weight`,
        }),
      };
    });
    const outputNorm = RmsNorm.load(w, ws, 'output_norm.weight', c.hiddenSize, c.normEps);
    this.head = OutputHead.load(w, ws, outputNorm, 'output.weight', this.tokenEmbedding);
    w.checkAllUsed(c.architecture);
    // forward's matmuls in call order: a decode step reads each weight once, and the backend can
    // read the next one while the small ops before its matmul run
    backend.planReadAhead?.([...this.layers.flatMap((l) => [...l.attention.matmulWeights, ...l.mlp.matmulWeights]), this.head.output]);
  }

  /** frees the uploaded weights and the scratch buffers (the backend stays the caller's); twice is harmless */
  dispose(): void {
    this.ws.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  hiddenRows(): DeviceBuffer {
    return this.head.hidden;
  }

  argmaxRows(logits: DeviceBuffer, numRows: number): Int32Array {
    const out = this.ws.getInt('argmax', numRows);
    this.backend.argmaxRows(out, logits, numRows, this.config.vocabSize);
    return out;
  }

  /**
   * Runs the batch through the model, writing K/V into `kv`. Returns [logitRows.length, vocabSize]
   * logits on the backend, in a buffer this model reuses (valid until the next forward: no 16 MB
   * allocation, page faults and garbage per step of a 32-sequence batch with a 128K vocabulary).
   */
  forward(batch: ForwardBatch, kv: KvCache): DeviceBuffer {
    const n = batch.tokenIds.length;
    const h = this.config.hiddenSize;
    const x = this.ws.get('x', n * h); //       [n, hiddenSize] residual stream
    const xn = this.ws.get('xn', n * h); //     [n, hiddenSize] normed
    const proj = this.ws.get('proj', n * h); // [n, hiddenSize] a block's output

    this.backend.embedding(x, this.tokenEmbedding, batch.tokenIds);
    this.layers[0]!.attnNorm.forward(xn, x, n); // later layers': the previous layer's last step
    this.layers.forEach((layer, i) => {
      layer.attention.forward(proj, xn, batch, kv.layer(i));
      layer.ffnNorm.addForward(xn, x, proj, n);
      layer.mlp.forward(proj, xn, n);
      const next = this.layers[i + 1];
      if (next) next.attnNorm.addForward(xn, x, proj, n);
      else this.backend.add(x, x, proj, n * h);
    });
    return this.head.forward(x, batch.logitRows, batch.hiddenRows);
  }
}
