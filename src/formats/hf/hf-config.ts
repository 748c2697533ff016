import { ModelLoadError } from '../../errors/engine-error.js';
import { untrustedText } from '../../errors/untrusted-text.js';
import { gguf, type GgufValue } from '../gguf/index.js';
import { llama3RopeFactors } from './rope-scaling.js';

/** What an architecture's tensors need on their way from Hugging Face to llama.cpp's layout. */
export interface HfArchitecturePlan {
  /** GGUF `general.architecture` */
  readonly architecture: string;
  /** `${architecture}.*` and `general.*` keys as llama.cpp's converter writes them */
  readonly metadata: Map<string, GgufValue>;
  /**
   * q/k rows are reordered from HF's rotate-half rope (pairs i and i + d/2) to GGUF's adjacent-pair
   * rope (2i, 2i+1), per head: q over numHeads heads, k over numKvHeads (llama only)
   */
  readonly permuteQk?: { readonly numHeads: number; readonly numKvHeads: number };
  /** norms are stored as w and run as (1 + w): GGUF stores 1 + w (Gemma) */
  readonly hasNormOffset: boolean;
  /** post_attention_layernorm is the attention's post-norm (Gemma), not the MLP's pre-norm */
  readonly hasPostNorms: boolean;
  /** F32 tensors computed from config.json (rope_freqs, LongRoPE factors), by GGUF name */
  readonly extraTensors: ReadonlyMap<string, Float32Array>;
}

/** HF `model_type` → GGUF architecture: the ones src/models/registry.ts runs */
const MODEL_TYPES: ReadonlyMap<string, string> = new Map([
  ['llama', 'llama'],
  ['mistral', 'llama'],
  ['qwen2', 'qwen2'],
  ['qwen3', 'qwen3'],
  ['gemma2', 'gemma2'],
  ['gemma3_text', 'gemma3'],
  ['gemma3', 'gemma3'],
  ['phi3', 'phi3'],
]);

export const SUPPORTED_HF_MODEL_TYPES: readonly string[] = [...MODEL_TYPES.keys()];

/** Typed reads of config.json that name the key and the file in their errors. */
class ConfigReader {
  constructor(
    private readonly config: Record<string, unknown>,
    private readonly shownPath: string,
  ) {}

  private fail(key: string, want: string): never {
    throw new ModelLoadError('MISSING_METADATA', `${this.shownPath}: '${untrustedText(key)}' must be ${want} (found ${untrustedText(JSON.stringify(this.config[key]) ?? 'nothing')})`);
  }

  has(key: string): boolean {
    return this.config[key] !== undefined && this.config[key] !== null;
  }

  number(key: string, fallback?: number): number {
    const v = this.config[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    return this.fail(key, 'a finite number');
  }

  optionalNumber(key: string): number | undefined {
    return this.has(key) ? this.number(key) : undefined;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.config[key];
    if (typeof v === 'boolean') return v;
    if (v === undefined || v === null) return fallback;
    return this.fail(key, 'true or false');
  }

  object(key: string): Record<string, unknown> | undefined {
    const v = this.config[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    return this.fail(key, 'an object');
  }

  numberArray(key: string): number[] | undefined {
    const v = this.config[key];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
    return this.fail(key, 'an array of numbers');
  }

}

/** The text model's config: Gemma 3's multimodal checkpoints nest it under text_config. */
function textConfig(config: Record<string, unknown>): Record<string, unknown> {
  const nested = config['text_config'];
  if (config['model_type'] === 'gemma3' && typeof nested === 'object' && nested !== null && !Array.isArray(nested)) {
    return { ...(nested as Record<string, unknown>), model_type: 'gemma3' };
  }
  return config;
}

/** The GGUF architecture a config.json names (its model_type), or undefined when Peregrine runs none such. */
export function hfArchitecture(config: Record<string, unknown>): string | undefined {
  const type = config['model_type'];
  return typeof type === 'string' ? MODEL_TYPES.get(type) : undefined;
}

/**
 * config.json → the GGUF metadata llama.cpp's convert_hf_to_gguf.py writes for it (the keys Peregrine's
 * architecture files read), plus how the tensors must be converted. Values llama.cpp stores as f32
 * are rounded to f32 here too, so an HF directory and its converted GGUF give the same config.
 * Throws UNSUPPORTED_ARCHITECTURE for a model_type Peregrine does not run (naming the supported
 * ones) and for settings it would compute differently (rope scaling kinds, Gemma's query scale).
 */
export function planHfArchitecture(rawConfig: Record<string, unknown>, shownPath: string): HfArchitecturePlan {
  const config = textConfig(rawConfig);
  const modelType = typeof config['model_type'] === 'string' ? config['model_type'] : undefined;
  const arch = modelType === undefined ? undefined : MODEL_TYPES.get(modelType);
  if (arch === undefined) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${shownPath}: model_type '${untrustedText(String(modelType ?? 'missing'))}' is not supported (supported: ${SUPPORTED_HF_MODEL_TYPES.join(', ')})`,
    );
  }
  const c = new ConfigReader(config, shownPath);
  const unsupported = (what: string): never => {
    throw new ModelLoadError('UNSUPPORTED_ARCHITECTURE', `${shownPath}: ${untrustedText(modelType!)} with ${what} is not supported yet`);
  };
  const f = Math.fround;
  const key = (k: string): string => `${arch}.${k}`;
  const hiddenSize = c.number('hidden_size');
  const numHeads = c.number('num_attention_heads');
  const numKvHeads = c.number('num_key_value_heads', numHeads);
  const headDim = c.number('head_dim', numHeads > 0 ? Math.trunc(hiddenSize / numHeads) : 0);
  const ropeTheta = c.number('rope_theta', 10000);
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', gguf.str(arch)],
    [key('context_length'), gguf.u32(c.number('max_position_embeddings'))],
    [key('embedding_length'), gguf.u32(hiddenSize)],
    [key('block_count'), gguf.u32(c.number('num_hidden_layers'))],
    [key('feed_forward_length'), gguf.u32(c.number('intermediate_size'))],
    [key('attention.head_count'), gguf.u32(numHeads)],
    [key('attention.head_count_kv'), gguf.u32(numKvHeads)],
    [key('attention.key_length'), gguf.u32(headDim)],
    [key('attention.value_length'), gguf.u32(headDim)],
    [key('attention.layer_norm_rms_epsilon'), gguf.f32(f(c.number('rms_norm_eps', 1e-6)))],
    [key('rope.freq_base'), gguf.f32(f(ropeTheta))],
  ]);
  if (c.has('vocab_size')) metadata.set(key('vocab_size'), gguf.u32(c.number('vocab_size')));
  const extraTensors = new Map<string, Float32Array>();
  const isGemma = arch === 'gemma2' || arch === 'gemma3';

  // rope scaling: 'type' in older configs, 'rope_type' in newer ones
  const scaling = c.object('rope_scaling');
  const scalingType = scaling ? String(scaling['rope_type'] ?? scaling['type'] ?? 'default') : 'default';
  const scalingReader = new ConfigReader(scaling ?? {}, `${shownPath} rope_scaling`);
  let ropeDims = headDim;
  if (arch === 'phi3') ropeDims = Math.trunc(c.number('partial_rotary_factor', 1) * headDim);
  metadata.set(key('rope.dimension_count'), gguf.u32(ropeDims));
  if (scalingType === 'linear') {
    metadata.set(key('rope.scaling.type'), gguf.str('linear'));
    metadata.set(key('rope.scaling.factor'), gguf.f32(f(scalingReader.number('factor'))));
  } else if (scalingType === 'llama3' && arch === 'llama') {
    extraTensors.set('rope_freqs.weight', llama3RopeFactors(f(ropeTheta), headDim, {
      factor: scalingReader.number('factor'),
      lowFreqFactor: scalingReader.number('low_freq_factor'),
      highFreqFactor: scalingReader.number('high_freq_factor'),
      originalContextLength: scalingReader.number('original_max_position_embeddings'),
    }));
  } else if ((scalingType === 'longrope' || scalingType === 'su') && arch === 'phi3') {
    const original = c.number('original_max_position_embeddings');
    const contextLength = c.number('max_position_embeddings');
    const scale = contextLength / original;
    const attnFactor = scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(original)) : 1;
    metadata.set(key('rope.scaling.original_context_length'), gguf.u32(original));
    metadata.set(key('rope.scaling.attn_factor'), gguf.f32(f(attnFactor)));
    for (const which of ['short', 'long'] as const) {
      const factors = scalingReader.numberArray(`${which}_factor`);
      if (!factors || factors.length !== ropeDims / 2) unsupported(`rope_scaling.${which}_factor of ${factors?.length ?? 0} values (need ${ropeDims / 2})`);
      extraTensors.set(`rope_factors_${which}.weight`, Float32Array.from(factors!));
    }
  } else if (scalingType !== 'default') {
    unsupported(`rope scaling '${untrustedText(scalingType)}'`);
  }

  if (isGemma) {
    // Peregrine (as llama.cpp) derives Gemma's query scale from the layer count: check config.json agrees
    const numLayers = c.number('num_hidden_layers');
    const layersOf27B = arch === 'gemma2' ? 46 : 62;
    const expected = numLayers === layersOf27B ? Math.trunc(hiddenSize / numHeads) : headDim;
    const scalar = c.number('query_pre_attn_scalar', expected);
    if (scalar !== expected) unsupported(`query_pre_attn_scalar ${scalar} (llama.cpp and Peregrine use ${expected} for this shape)`);
    metadata.set(key('attention.sliding_window'), gguf.u32(c.number('sliding_window')));
  }
  if (arch === 'gemma2') {
    metadata.set(key('attn_logit_softcapping'), gguf.f32(f(c.number('attn_logit_softcapping'))));
    metadata.set(key('final_logit_softcapping'), gguf.f32(f(c.number('final_logit_softcapping'))));
  }
  if (arch === 'gemma3') {
    const localBase = c.number('rope_local_base_freq', 10000);
    if (localBase !== 10000) unsupported(`rope_local_base_freq ${localBase} (Gemma 3's local layers run base 10000)`);
    const pattern = c.number('sliding_window_pattern', 6);
    if (pattern !== 6) unsupported(`sliding_window_pattern ${pattern} (Gemma 3 runs 6)`);
    if (c.has('attn_logit_softcapping')) unsupported('attn_logit_softcapping (llama.cpp\'s gemma3 applies none)');
  }
  // Mistral 7B v0.1's sliding_window (4096) holds on every layer (later Mistrals have null)
  if (arch === 'llama' && c.has('sliding_window')) metadata.set(key('attention.sliding_window'), gguf.u32(c.number('sliding_window')));
  // Qwen's use_sliding_window is off in every release, and llama.cpp's qwen graphs have none
  if ((arch === 'qwen2' || arch === 'qwen3') && c.bool('use_sliding_window', false)) unsupported('use_sliding_window');
  return {
    architecture: arch,
    metadata,
    permuteQk: arch === 'llama' ? { numHeads, numKvHeads } : undefined,
    hasNormOffset: isGemma,
    hasPostNorms: isGemma,
    extraTensors,
  };
}
