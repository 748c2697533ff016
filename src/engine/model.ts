import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath } from '../errors/untrusted-text.js';
import { GgufValueType, MetadataReader } from '../formats/gguf/index.js';
import { readModel } from '../formats/read-model.js';
import type { KernelBackend, KvCacheType } from '../kernels/kernel-backend.js';
import { checkKvCacheType } from '../kernels/kv-cache-type.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import { selectBackend, type BackendChoice } from '../kernels/select-backend.js';
import type { CausalLM } from '../models/causal-lm.js';
import { describeModel, type ModelInfo } from '../models/model-info.js';
import { defaultContextSize } from '../models/model-config.js';
import { createModel } from '../models/registry.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/tokenizer.js';
import { checkContextSize } from './context-size.js';
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
   * bit; 'bf16' runs batches of 12+ tokens (prefill, busy servers) on AMX bf16 tiles where the CPU
   * has them: faster, about as accurate, but not llama.cpp's bits. Ignored with a backend instance.
   */
  readonly matmulPrecision?: MatmulPrecision;
  /**
   * where a Hugging Face directory without tokenizer.json gets its vocabulary: a GGUF file (its
   * `tokenizer.*` metadata), a tokenizer.json or a directory holding one. Ignored for a GGUF model.
   */
  readonly tokenizer?: string;
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
  readonly network: CausalLM;
  readonly contextSize: number;
  readonly kvCacheType: KvCacheType;
  /** the backend the model created and must dispose (undefined: the caller's) */
  readonly ownedBackend: KernelBackend | undefined;
}

/**
 * A loaded model: its weights on a kernel backend (`network`), its tokenizer, and the context
 * size and KV cache type chosen at load. It runs nothing by itself: an engine (AsyncEngine,
 * createServingEngine) or LoadedModel's generate() runs it.
 */
export class Model {
  readonly path: string;
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly chatTemplateSource: string | undefined;
  readonly tokenizerPath: string | undefined;
  readonly network: CausalLM;
  readonly contextSize: number;
  readonly kvCacheType: KvCacheType;
  private readonly ownedBackend: KernelBackend | undefined;
  private compiler: ConstraintCompiler | undefined;

  protected constructor(parts: ModelParts) {
    this.path = parts.path;
    this.info = parts.info;
    this.tokenizer = parts.tokenizer;
    this.chatTemplateSource = parts.chatTemplateSource;
    this.tokenizerPath = parts.tokenizerPath;
    this.network = parts.network;
    this.contextSize = parts.contextSize;
    this.kvCacheType = parts.kvCacheType;
    this.ownedBackend = parts.ownedBackend;
  }

  static load(path: string, options: LoadModelOptions = {}): Model {
    return new Model(Model.read(path, options));
  }

  /** Reads, checks and loads the file: throws ModelLoadError or InvalidRequestError (bad options). */
  protected static read(path: string, options: LoadModelOptions): ModelParts {
    if (options.matmulPrecision !== undefined && options.matmulPrecision !== 'exact' && options.matmulPrecision !== 'bf16') {
      throw new InvalidRequestError('INVALID_ARGUMENT', `matmulPrecision must be 'exact' or 'bf16' (got ${String(options.matmulPrecision)})`);
    }
    const file = readModel(path, { tokenizer: options.tokenizer });
    const info = describeModel(file);
    if (!file.metadata.has('tokenizer.ggml.model')) {
      throw new ModelLoadError('MISSING_METADATA', `${untrustedPath(path)} has no tokenizer (a Hugging Face directory needs tokenizer.json, or a vocabulary from the tokenizer option / --tokenizer: a GGUF file or tokenizer.json)`);
    }
    const tokenizer = createTokenizer(new MetadataReader(file.metadata, path));
    const template = file.metadata.get('tokenizer.chat_template');
    const chatTemplateSource = template?.type === GgufValueType.STRING ? (template.value as string) : undefined;
    const isOwnBackend = options.backend === undefined || typeof options.backend === 'string';
    const backend =
      options.backend === undefined || typeof options.backend === 'string'
        ? selectBackend(options.backend, { threads: options.threads, matmulPrecision: options.matmulPrecision })
        : options.backend;
    try {
      // the context is chosen before the weights load: Phi-3's rope factors depend on it
      const contextLength = new MetadataReader(file.metadata, path).number(`${info.architecture}.context_length`, 0);
      const contextSize = options.contextSize ?? defaultContextSize(contextLength);
      const network = createModel(file, backend, { contextSize });
      const kvCacheType: unknown = options.kvCacheType ?? 'f16';
      checkKvCacheType(kvCacheType, network.config.numKvHeads * network.config.headDim);
      checkContextSize(contextSize, network.config, kvCacheType);
      return { path, info, tokenizer, chatTemplateSource, tokenizerPath: options.tokenizer, network, contextSize, kvCacheType, ownedBackend: isOwnBackend ? backend : undefined };
    } catch (err) {
      if (isOwnBackend) backend.dispose();
      throw err;
    }
  }

  /**
   * Compiles constrained-decoding specs (JSON schema, json_object, GBNF, regex) against this model's
   * vocabulary, caching them per spec; made on first use, one per model (its tokenizer).
   */
  get constraintCompiler(): ConstraintCompiler {
    return (this.compiler ??= createConstraintCompiler(this.tokenizer));
  }

  /** name of the kernel backend in use, e.g. 'native-avx512' or 'reference' */
  get backendName(): string {
    return this.network.backendName;
  }

  /**
   * Frees the weights on the backend, then the backend when the model created it (its kernel
   * threads, native memory). The model must not be used afterwards; twice is harmless.
   */
  dispose(): void {
    this.network.dispose();
    if (this.ownedBackend) this.ownedBackend.dispose();
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
    const v = this.network.config.vocabSize;
    for (const id of tokenIds) {
      if (!Number.isInteger(id) || id < 0 || id >= v) {
        throw new InvalidRequestError('INVALID_TOKEN', `token id ${id} is outside the vocabulary (0..${v - 1})`);
      }
    }
  }
}
