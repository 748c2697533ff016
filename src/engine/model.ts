import { InvalidRequestError } from '../errors/engine-error.js';
import { MetadataReader, readGguf } from '../formats/gguf/index.js';
import type { KernelBackend, KvCacheType } from '../kernels/kernel-backend.js';
import { KV_BLOCK_SIZE, KvStorage } from '../kernels/kv-storage.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import { selectBackend, type BackendChoice } from '../kernels/select-backend.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import { createModel, type CausalLM } from '../models/registry.js';
import { describeModel, type ModelInfo } from '../models/model-info.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/tokenizer.js';
import { AsyncEngine } from './async-engine.js';
import { checkContextSize } from './context-size.js';
import type { GenerationChunk, GenerationOptions, FinishReason } from './generation-options.js';

export interface LoadModelOptions {
  /** tokens of context per sequence (default: the model's, capped at 4096) */
  readonly contextSize?: number;
  /** kernel backend: a choice (default 'auto': native kernels when built) or an instance the caller owns */
  readonly backend?: BackendChoice | KernelBackend;
  /** threads for the native kernels (default: all cores) */
  readonly threads?: number;
  /** KV cache element type (default 'f16', as llama.cpp) */
  readonly kvCacheType?: KvCacheType;
  /**
   * Q8_0 / Q4_0 / Q4_K matmul arithmetic of the native kernels: 'exact' (default) is llama.cpp's, bit for
   * bit; 'bf16' runs batches of 12+ tokens (prefill, busy servers) on AMX bf16 tiles where the CPU
   * has them: faster, about as accurate, but not llama.cpp's bits. Ignored with a backend instance.
   */
  readonly matmulPrecision?: MatmulPrecision;
}

export interface CompletionResult {
  readonly text: string;
  readonly tokenIds: number[];
  readonly finishReason: FinishReason;
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
}

const DEFAULT_MAX_CONTEXT = 4096;

/** A loaded model: weights, tokenizer and the means to run them. */
export class Model {
  private constructor(
    readonly path: string,
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    readonly network: CausalLM,
    readonly contextSize: number,
    readonly kvCacheType: KvCacheType,
    /** the backend this model created and must dispose */
    private readonly ownedBackend: KernelBackend | undefined,
  ) {}

  /** created on the first generate() */
  private engine: AsyncEngine | undefined;

  /** name of the kernel backend in use, e.g. 'native-avx512' or 'reference' */
  get backendName(): string {
    return this.network.backendName;
  }

  /** Frees native resources (kernel threads). The model must not be used afterwards. */
  dispose(): void {
    if (this.ownedBackend) disposeBackend(this.ownedBackend);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  static load(path: string, options: LoadModelOptions = {}): Model {
    if (options.matmulPrecision !== undefined && options.matmulPrecision !== 'exact' && options.matmulPrecision !== 'bf16') {
      throw new InvalidRequestError('INVALID_ARGUMENT', `matmulPrecision must be 'exact' or 'bf16' (got ${String(options.matmulPrecision)})`);
    }
    const file = readGguf(path);
    const info = describeModel(file);
    const tokenizer = createTokenizer(new MetadataReader(file.metadata, path));
    const isOwnBackend = options.backend === undefined || typeof options.backend === 'string';
    const backend =
      options.backend === undefined || typeof options.backend === 'string'
        ? selectBackend(options.backend, { threads: options.threads, matmulPrecision: options.matmulPrecision })
        : options.backend;
    let network: CausalLM;
    try {
      network = createModel(file, backend);
    } catch (err) {
      if (isOwnBackend) disposeBackend(backend);
      throw err;
    }
    const max = network.config.contextLength;
    const contextSize = options.contextSize ?? Math.min(max, DEFAULT_MAX_CONTEXT);
    const kvCacheType = options.kvCacheType ?? 'f16';
    if (kvCacheType !== 'f16' && kvCacheType !== 'f32') {
      throw new InvalidRequestError('INVALID_ARGUMENT', `kvCacheType must be 'f16' or 'f32' (got ${String(kvCacheType)})`);
    }
    try {
      checkContextSize(contextSize, network.config, kvCacheType);
    } catch (err) {
      if (isOwnBackend) disposeBackend(backend);
      throw err;
    }
    return new Model(path, info, tokenizer, network, contextSize, kvCacheType, isOwnBackend ? backend : undefined);
  }

  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(ids: readonly number[], options?: { special?: boolean }): string {
    return this.tokenizer.decode(ids, options);
  }

  /**
   * Streams generated text. `prompt` is text, or token ids used as they are. Concurrent calls
   * are batched together by the model's own serving engine (up to 8 at once).
   */
  async *generate(prompt: string | readonly number[], options: GenerationOptions = {}): AsyncGenerator<GenerationChunk> {
    this.engine ??= new AsyncEngine(this, { maxNumSeqs: 8 });
    yield* this.engine.generate(prompt, options);
  }

  async complete(prompt: string | readonly number[], options: GenerationOptions = {}): Promise<CompletionResult> {
    let text = '';
    const tokenIds: number[] = [];
    let finishReason: FinishReason = 'length';
    let usage = { promptTokens: 0, completionTokens: 0 };
    for await (const chunk of this.generate(prompt, options)) {
      text += chunk.text;
      tokenIds.push(...chunk.tokenIds);
      if (chunk.finishReason) finishReason = chunk.finishReason;
      if (chunk.usage) usage = chunk.usage;
    }
    return { text, tokenIds, finishReason, usage };
  }

  /** A KV cache for one sequence of up to `numTokens` tokens, with its block table. */
  private createSequenceCache(numTokens: number): { kv: KvStorage; blockTable: Int32Array } {
    const numBlocks = Math.ceil(numTokens / KV_BLOCK_SIZE);
    const c = this.network.config;
    const kv = new KvStorage(c.numLayers, c.numKvHeads * c.headDim, numBlocks, KV_BLOCK_SIZE, this.kvCacheType);
    return { kv, blockTable: Int32Array.from({ length: numBlocks }, (_, i) => i) };
  }

  /** Logits after every token of `tokenIds` ([tokenIds.length][vocabSize]), in one fresh context. */
  evaluate(tokenIds: readonly number[]): Float32Array[] {
    this.checkTokens(tokenIds);
    const { kv, blockTable } = this.createSequenceCache(tokenIds.length);
    const n = tokenIds.length;
    const batch: ForwardBatch = {
      tokenIds: Int32Array.from(tokenIds),
      positions: Int32Array.from({ length: n }, (_, i) => i),
      sequences: [{ start: 0, numTokens: n, blockTable }],
      logitRows: Int32Array.from({ length: n }, (_, i) => i),
    };
    const logits = this.network.forward(batch, kv);
    const v = this.network.config.vocabSize;
    return Array.from({ length: n }, (_, i) => logits.slice(i * v, (i + 1) * v));
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

function disposeBackend(backend: KernelBackend): void {
  (backend as Partial<Disposable>)[Symbol.dispose]?.();
}

export async function loadModel(path: string, options?: LoadModelOptions): Promise<Model> {
  return Model.load(path, options);
}
