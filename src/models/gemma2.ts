import { ModelLoadError } from '../errors/engine-error.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { DeviceBuffer, KernelBackend, KvCache } from '../kernels/kernel-backend.js';
import { AttentionBlock, attentionWeightNames } from './blocks/attention.js';
import { GatedMlp } from './blocks/gated-mlp.js';
import { RmsNorm } from './blocks/rms-norm.js';
import { DecoderModel } from './decoder-model.js';
import type { ForwardBatch } from './forward-batch.js';
import { readGgufConfig } from './gguf-config.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';

/** llama.cpp's defaults where a Gemma 2 file lacks the key (llama_hparams; Gemma 2's released values) */
const GEMMA2_SLIDING_WINDOW = 4096;
const GEMMA2_ATTENTION_SOFTCAP = 50;
const GEMMA2_FINAL_SOFTCAP = 30;

/**
 * The settings every Gemma 2/3 GGUF shares, as llama.cpp sets them: NEOX rope, GeGLU (GELU's tanh
 * form), token embeddings × √hiddenSize, post-norms on both blocks, and q × f_attention_scale:
 * 1/√headDim, or 1/√(hiddenSize / numHeads) for the 27B models (picked by layer count, as
 * llama.cpp does: their query_pre_attn_scalar is hidden/heads, which GGUF does not store). Norm
 * weights need no offset: llama.cpp's converter stores Gemma's (1 + w).
 */
export function readGemmaConfig(file: GgufFile, arch: 'gemma2' | 'gemma3', layersOf27B: number): ModelConfig {
  const base = readGgufConfig(file, arch, 'neox');
  const f = Math.fround;
  const queryPreAttnScalar = base.numLayers === layersOf27B ? Math.trunc(base.hiddenSize / base.numHeads) : base.headDim;
  const meta = new MetadataReader(file.metadata, file.path);
  const windowKey = `${arch}.attention.sliding_window`;
  // llama.cpp: optional for gemma2, required for gemma3 (without it, it builds another graph)
  const slidingWindow = arch === 'gemma2' ? meta.number(windowKey, GEMMA2_SLIDING_WINDOW) : meta.number(windowKey);
  if (!Number.isInteger(slidingWindow) || slidingWindow <= 0) {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `${file.path}: invalid ${arch} hyperparameters: attention.sliding_window = ${slidingWindow} (must be a positive integer)`);
  }
  return {
    ...base,
    activation: 'gelu',
    embeddingScale: f(Math.sqrt(base.hiddenSize)),
    queryScale: f(1 / f(Math.sqrt(queryPreAttnScalar))),
    hasPostNorms: true,
    slidingWindow,
  };
}

/**
 * Gemma 2 hyperparameters (GGUF arch 'gemma2'), as llama.cpp reads them: the common keys, a sliding
 * window (`gemma2.attention.sliding_window`, default 4096) on every other layer from layer 0
 * (llama.cpp's swa pattern 2), attention and final logit soft-capping
 * (`gemma2.attn_logit_softcapping`, default 50; `gemma2.final_logit_softcapping`, default 30), the
 * 27B's query scale when it has 46 layers; one rope for all layers.
 */
export function parseGemma2Config(file: GgufFile): ModelConfig {
  const meta = new MetadataReader(file.metadata, file.path);
  const attentionSoftcap = meta.number('gemma2.attn_logit_softcapping', GEMMA2_ATTENTION_SOFTCAP);
  const finalLogitSoftcap = meta.number('gemma2.final_logit_softcapping', GEMMA2_FINAL_SOFTCAP);
  for (const [key, cap] of [['attn_logit_softcapping', attentionSoftcap], ['final_logit_softcapping', finalLogitSoftcap]] as const) {
    if (!(cap > 0 && Number.isFinite(cap))) throw new ModelLoadError('BAD_TENSOR_SHAPE', `${file.path}: invalid gemma2 hyperparameters: ${key} = ${cap} (must be finite and > 0)`);
  }
  const config: ModelConfig = { ...readGemmaConfig(file, 'gemma2', 46), slidingWindowPattern: 2, attentionSoftcap, finalLogitSoftcap };
  return validateModelConfig(config, file.path);
}

interface GemmaLayer {
  readonly attnNorm: RmsNorm;
  readonly attention: AttentionBlock;
  /** normalizes the attention output before the residual add */
  readonly attnPostNorm: RmsNorm;
  readonly ffnNorm: RmsNorm;
  readonly mlp: GatedMlp;
  /** normalizes the MLP output before the residual add */
  readonly ffnPostNorm: RmsNorm;
}

/**
 * Gemma 2 decoder (and Gemma 3's text model, gemma3.ts): embeddings × √hiddenSize; layers of
 * attention (local sliding-window or global, by the config's pattern) and a GeGLU MLP, each
 * pre-normed and post-normed before it joins the residual stream; last norm, tied output head,
 * optional final soft-cap (DecoderModel). llama.cpp's src/models/gemma2-iswa.cpp and gemma3.cpp;
 * weight names are its own (blk.N.post_attention_norm, blk.N.post_ffw_norm).
 *
 * With a tensor shard a block's output is a partial sum until it is all-reduced, and a post-norm
 * of a partial sum is not the partial sum of the post-norm: each post-norm runs on the summed
 * output (after the yield). The attention soft-cap acts on one head's scores, the embedding scale
 * and the final soft-cap on single values: the same on a rank's heads or vocabulary rows.
 */
export class GemmaModel extends DecoderModel {
  private readonly layers: GemmaLayer[];

  constructor(config: ModelConfig, file: GgufFile, backend: KernelBackend, shard?: ModelShard) {
    super(config, file, backend, shard);
    const c = config;
    const w = this.loader;
    const ws = this.ws;
    const norm = (name: string, size = c.hiddenSize): RmsNorm => RmsNorm.load(w, ws, name, size, c.normEps);
    const { first, end } = this.layerRange;
    this.layers = Array.from({ length: end - first }, (_, j) => {
      const i = first + j;
      const blk = `blk.${i}`;
      return {
        attnNorm: norm(`${blk}.attn_norm.weight`),
        attention: AttentionBlock.load(w, ws, c, attentionWeightNames(i), c.rope, i, shard?.tensor),
        attnPostNorm: norm(`${blk}.post_attention_norm.weight`),
        ffnNorm: norm(`${blk}.ffn_norm.weight`),
        mlp: GatedMlp.load(
          w,
          ws,
          c,
          { gate: `${blk}.ffn_gate.weight`, up: `${blk}.ffn_up.weight`, gateUp: `${blk}.ffn_gate_up.weight`, down: `${blk}.ffn_down.weight` },
          shard?.tensor,
        ),
        ffnPostNorm: norm(`${blk}.post_ffw_norm.weight`),
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
      layer.attnPostNorm.forward(proj, proj, n);
      layer.ffnNorm.addForward(xn, x, proj, n);
      layer.mlp.forward(proj, xn, n);
      yield proj;
      layer.ffnPostNorm.forward(proj, proj, n);
      const next = this.layers[i + 1];
      if (next) next.attnNorm.addForward(xn, x, proj, n);
      else this.backend.add(x, x, proj, n * h);
    }
  }
}

/** A Gemma 2 model: GemmaModel with the gemma2 config (`shard`: one worker's part of it). */
export function createGemma2Model(file: GgufFile, backend: KernelBackend, options: { readonly shard?: ModelShard } = {}): GemmaModel {
  return new GemmaModel(parseGemma2Config(file), file, backend, options.shard);
}
