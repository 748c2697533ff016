import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath } from '../errors/untrusted-text.js';
import { GgufValueType, MetadataReader } from '../formats/gguf/index.js';
import { readModel } from '../formats/read-model.js';
import type { KernelBackend, KvCacheType } from '../kernels/kernel-backend.js';
import type { GgufFile } from '../formats/gguf/index.js';
import { checkKvCacheType, isKvCacheType, KV_CACHE_TYPES } from '../kernels/kv-cache-type.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import { selectBackend, type BackendChoice } from '../kernels/select-backend.js';
import type { CausalLM } from '../models/causal-lm.js';
import { describeModel, type ModelInfo } from '../models/model-info.js';
import { defaultContextSize, type ModelConfig } from '../models/model-config.js';
import type { ParallelPlan } from '../parallel/parallel-executor.js';
import type { TransportKind } from '../parallel/transport.js';
import { createModel, SUPPORTED_ARCHITECTURES } from '../models/registry.js';
import { matmulWeightShapes } from '../models/weight-loader.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/tokenizer.js';
import { checkContextSize } from './context-size.js';
import { LocalWeights } from './local-weights.js';
import type { ModelWeights, RunnerHandle } from './model-weights.js';
import { createConstraintCompiler, type ConstraintCompiler } from '../grammar/index.js';

export interface LoadModelOptions {
  /** tokens of context per sequence (default: the model's, capped at 4096) */
  readonly contextSize?: number;
  /** kernel backend: a choice (default 'auto': native kernels when built) or an instance the caller owns */
  readonly backend?: BackendChoice | KernelBackend;
  /** threads for the native kernels (default: all cores) */
  readonly threads?: number;
  /** KV cache element type (default 'f16', as llama.cpp; the others: src/kernels/kv-cache-type.ts) */
  readonly kvCacheType?: KvCacheType;
  /**
   * Q8_0 / Q4_0 / Q4_K matmul arithmetic of the native kernels: 'exact' (default) is llama.cpp's, bit for
   * bit; 'bf16' runs batches of 12+ tokens (prefill, busy servers) in bf16 where the CPU has AMX
   * tiles or AVX-512-BF16: about as accurate, but not llama.cpp's bits. Ignored with a backend instance.
   */
  readonly matmulPrecision?: MatmulPrecision;
  /**
   * where a Hugging Face directory without tokenizer.json gets its vocabulary: a GGUF file (its
   * `tokenizer.*` metadata), a tokenizer.json or a directory holding one. Ignored for a GGUF model.
   */
  readonly tokenizer?: string;
  /**
   * workers per pipeline stage, each with a slice of every layer (attention heads, FFN columns, the
   * KV cache by heads); default 1. With tensorParallel × pipelineParallel above 1 the weights load
   * on that many workers (src/parallel/), not in this process: `threads` is then each worker's
   * kernel threads (default: the cores divided among the workers) and `matmulPrecision` each
   * worker's; a backend instance does not apply, and evaluate() and `network` are unavailable.
   */
  readonly tensorParallel?: number;
  /** pipeline stages, each with a contiguous run of layers; default 1 */
  readonly pipelineParallel?: number;
  /** how the workers exchange activations: threads of this process ('shared-memory', default) or processes on Unix sockets */
  readonly parallelTransport?: TransportKind;
}

/** What Model's constructor takes: a file read and checked by `Model.read`. */
export interface ModelParts {
  readonly path: string;
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  /** the Jinja chat template the model carries (GGUF `tokenizer.chat_template`, tokenizer_config.json's chat_template) */
  readonly chatTemplateSource: string | undefined;
  /** LoadModelOptions.tokenizer, for threads that rebuild the tokenizer from the files */
  readonly tokenizerPath: string | undefined;
  /** the weights, in this process or on workers */
  readonly weights: ModelWeights;
  readonly contextSize: number;
  readonly kvCacheType: KvCacheType;
}

/** What every load reads in this process, whether the weights load here or on workers. */
export interface ModelDescription {
  readonly file: GgufFile;
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly chatTemplateSource: string | undefined;
  readonly contextSize: number;
  readonly kvCacheType: KvCacheType;
}

/**
 * A loaded model: its weights (on a kernel backend in this process, `network`, or sharded over
 * workers), its tokenizer, and the context size and KV cache type chosen at load. It runs nothing
 * by itself: an engine (AsyncEngine, createServingEngine) or LoadedModel's generate() runs it,
 * through createRunner.
 */
export class Model {
  readonly path: string;
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly chatTemplateSource: string | undefined;
  readonly tokenizerPath: string | undefined;
  readonly contextSize: number;
  readonly kvCacheType: KvCacheType;
  private readonly weights: ModelWeights;
  private compiler: ConstraintCompiler | undefined;

  protected constructor(parts: ModelParts) {
    this.path = parts.path;
    this.info = parts.info;
    this.tokenizer = parts.tokenizer;
    this.chatTemplateSource = parts.chatTemplateSource;
    this.tokenizerPath = parts.tokenizerPath;
    this.weights = parts.weights;
    this.contextSize = parts.contextSize;
    this.kvCacheType = parts.kvCacheType;
  }

  static load(path: string, options: LoadModelOptions = {}): Model {
    return new Model(Model.read(path, options));
  }

  /** Reads, checks and loads the file: throws ModelLoadError or InvalidRequestError (bad options). */
  protected static read(path: string, options: LoadModelOptions): ModelParts {
    checkMatmulPrecision(options.matmulPrecision);
    const isOwnBackend = options.backend === undefined || typeof options.backend === 'string';
    const backend =
      options.backend === undefined || typeof options.backend === 'string'
        ? selectBackend(options.backend, { threads: options.threads, matmulPrecision: options.matmulPrecision })
        : options.backend;
    try {
      const d = Model.describe(path, options, backend);
      const network = createModel(d.file, backend, { contextSize: d.contextSize });
      checkKvCacheType(d.kvCacheType, network.config.numKvHeads * network.config.headDim);
      checkContextSize(d.contextSize, network.config, d.kvCacheType);
      const weights = new LocalWeights(network, isOwnBackend ? backend : undefined);
      return { path, info: d.info, tokenizer: d.tokenizer, chatTemplateSource: d.chatTemplateSource, tokenizerPath: options.tokenizer, weights, contextSize: d.contextSize, kvCacheType: d.kvCacheType };
    } catch (err) {
      if (isOwnBackend) backend.dispose();
      throw err;
    }
  }

  /**
   * Reads the file's metadata, tokenizer and chat template, and settles the context size (before
   * any weights load: Phi-3's rope factors depend on it) and KV cache type. Given the backend the
   * weights will load on, tells it which as soon as the file is parsed (reserveWeights), so that it
   * readies their memory while the tokenizer is built.
   */
  static describe(path: string, options: LoadModelOptions, backend?: KernelBackend): ModelDescription {
    checkMatmulPrecision(options.matmulPrecision);
    const file = readModel(path, { tokenizer: options.tokenizer });
    const info = describeModel(file);
    if (!file.metadata.has('tokenizer.ggml.model')) {
      throw new ModelLoadError('MISSING_METADATA', `${untrustedPath(path)} has no tokenizer (a Hugging Face directory needs tokenizer.json, or a vocabulary from the tokenizer option / --tokenizer: a GGUF file or tokenizer.json)`);
    }
    const template = file.metadata.get('tokenizer.chat_template');
    const chatTemplateSource = template?.type === GgufValueType.STRING ? (template.value as string) : undefined;
    const contextLength = new MetadataReader(file.metadata, path).number(`${info.architecture}.context_length`, 0);
    const contextSize = options.contextSize ?? defaultContextSize(contextLength);
    const kvCacheType: unknown = options.kvCacheType ?? 'f16';
    if (!isKvCacheType(kvCacheType)) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `kvCacheType must be one of ${KV_CACHE_TYPES.join(', ')} (got ${String(kvCacheType)})`);
    }
    if (SUPPORTED_ARCHITECTURES.includes(info.architecture)) backend?.reserveWeights?.(matmulWeightShapes(file));
    const tokenizer = createTokenizer(new MetadataReader(file.metadata, path));
    return { file, info, tokenizer, chatTemplateSource, contextSize, kvCacheType };
  }

  /**
   * Compiles constrained-decoding specs (JSON schema, json_object, GBNF, regex) against this model's
   * vocabulary, caching them per spec; made on first use, one per model (its tokenizer).
   */
  get constraintCompiler(): ConstraintCompiler {
    return (this.compiler ??= createConstraintCompiler(this.tokenizer));
  }

  /** name of the kernel backend in use, e.g. 'native-avx512' or 'reference' (a parallel model's says its plan too) */
  get backendName(): string {
    return this.weights.backendName;
  }

  /** whether batch matmuls run in bf16: matmulPrecision 'bf16' (or 'fastest' resolved to it) on a CPU with bf16 batch kernels */
  get hasBf16Batches(): boolean {
    return this.weights.hasBf16Batches;
  }

  /** the whole model's config (vocabulary, hidden size, layers), wherever the weights are */
  get config(): ModelConfig {
    return this.weights.config;
  }

  /** how the weights are spread over workers, or undefined when they are in this process */
  get parallelPlan(): ParallelPlan | undefined {
    return this.weights.parallelPlan;
  }

  /**
   * The network in this process. A model loaded with tensorParallel × pipelineParallel above 1
   * has none (its weights are on its workers): InvalidRequestError.
   */
  get network(): CausalLM {
    const network = this.weights.network;
    if (network === undefined) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `${this.weights.backendName}: the weights are on the workers, not in this process; evaluate() and the network need a model loaded without tensorParallel / pipelineParallel`);
    }
    return network;
  }

  /** A runner for an engine's steps over a fresh KV cache of numKvBlocks × blockSize token slots (of the model's kvCacheType). */
  createRunner(spec: { readonly numKvBlocks: number; readonly blockSize: number }): RunnerHandle {
    return this.weights.createRunner({ ...spec, kvCacheType: this.kvCacheType });
  }

  /**
   * Frees the weights on the backend, then the backend when the model created it (its kernel
   * threads, native memory); a parallel model's workers are told to stop (close() waits for
   * them). The model must not be used afterwards; twice is harmless.
   */
  dispose(): void {
    // a worker that fails to stop cannot be reported from here; close() reports it
    this.weights.close().catch(() => {});
  }

  /** dispose(), resolving once a parallel model's workers have stopped */
  close(): Promise<void> {
    return this.weights.close();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(ids: readonly number[], options?: { special?: boolean }): string {
    return this.tokenizer.decode(ids, options);
  }

  /** Throws InvalidRequestError for token ids outside the vocabulary or a sequence beyond the context. */
  checkTokens(tokenIds: readonly number[]): void {
    if (tokenIds.length > this.contextSize) {
      throw new InvalidRequestError(
        'PROMPT_TOO_LONG',
        `prompt is ${tokenIds.length} tokens, the context holds ${this.contextSize}`,
      );
    }
    const v = this.config.vocabSize;
    for (const id of tokenIds) {
      if (!Number.isInteger(id) || id < 0 || id >= v) {
        throw new InvalidRequestError('INVALID_TOKEN', `token id ${id} is outside the vocabulary (0..${v - 1})`);
      }
    }
  }
}

function checkMatmulPrecision(precision: unknown): void {
  if (precision !== undefined && precision !== 'exact' && precision !== 'bf16' && precision !== 'fastest') {
    throw new InvalidRequestError('INVALID_ARGUMENT', `matmulPrecision must be 'exact', 'bf16' or 'fastest' (got ${String(precision)})`);
  }
}
