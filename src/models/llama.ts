import { ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath } from '../errors/untrusted-text.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { DeviceBuffer, KernelBackend, KvCache, RopeParams } from '../kernels/kernel-backend.js';
import { AttentionBlock, attentionWeightNames } from './blocks/attention.js';
import { GatedMlp } from './blocks/gated-mlp.js';
import { RmsNorm } from './blocks/rms-norm.js';
import { DecoderModel } from './decoder-model.js';
import type { ForwardBatch } from './forward-batch.js';
import { readGgufConfig } from './gguf-config.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';
import type { WeightLoader } from './weight-loader.js';

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
 * head (DecoderModel). Weight names are llama.cpp's. Qwen2 and Qwen3 have these layers too
 * (qwen2.ts, qwen3.ts): their q/k/v biases and q/k norms are options of the attention block, read
 * when the config has them. With a ModelShard, its stage's layers with its share of the heads and
 * features.
 */
export class LlamaModel extends DecoderModel {
  private readonly layers: LlamaLayer[];

  constructor(config: ModelConfig, file: GgufFile, backend: KernelBackend, layout: LlamaLayout = {}, shard?: ModelShard) {
    super(config, file, backend, shard);
    const c = config;
    const w = this.loader;
    const ws = this.ws;
    const rope = layout.rope?.(w) ?? { ...c.rope, freqFactors: w.optionalVector('rope_freqs.weight', c.rope.numRotaryDims / 2) };
    const { first, end } = this.layerRange;
    this.layers = Array.from({ length: end - first }, (_, j) => {
      const i = first + j;
      const blk = `blk.${i}`;
      return {
        attnNorm: RmsNorm.load(w, ws, `${blk}.attn_norm.weight`, c.hiddenSize, c.normEps),
        attention: AttentionBlock.load(w, ws, c, attentionWeightNames(i), rope, i, shard?.tensor),
        ffnNorm: RmsNorm.load(w, ws, `${blk}.ffn_norm.weight`, c.hiddenSize, c.normEps),
        mlp: GatedMlp.load(
          w,
          ws,
          c,
          { gate: `${blk}.ffn_gate.weight`, up: `${blk}.ffn_up.weight`, gateUp: `${blk}.${layout.gateUp ?? 'ffn_gate_up'}.weight`, down: `${blk}.ffn_down.weight` },
          shard?.tensor,
        ),
      };
    });
    this.completeLoad(this.layers.flatMap((l) => [...l.attention.matmulWeights, ...l.mlp.matmulWeights]));
  }

  *forwardLayers(x: DeviceBuffer, batch: ForwardBatch, kv: KvCache): Generator<DeviceBuffer, void, undefined> {
    const n = batch.tokenIds.length;
    const h = this.config.hiddenSize;
    const xn = this.ws.get('xn', n * h); //     [n, hiddenSize] normed
    const proj = this.ws.get('proj', n * h); // [n, hiddenSize] a block's output (with a tensor shard: this rank's partial sum until summed)
    this.layers[0]!.attnNorm.forward(xn, x, n); // later layers': the previous layer's last step
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      layer.attention.forward(proj, xn, batch, kv.layer(i));
      yield proj;
      layer.ffnNorm.addForward(xn, x, proj, n);
      layer.mlp.forward(proj, xn, n);
      yield proj;
      const next = this.layers[i + 1];
      if (next) next.attnNorm.addForward(xn, x, proj, n);
      else this.backend.add(x, x, proj, n * h);
    }
  }
}
