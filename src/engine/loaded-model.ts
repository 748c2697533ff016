import { evaluateLogits } from '../runner/evaluate-logits.js';
import { AsyncEngine } from './async-engine.js';
import { ChatSession, type ChatSessionOptions } from './chat-session.js';
import type { EmbeddingOptions } from './embedding-options.js';
import type { FinishReason, GenerationChunk, GenerationOptions } from './generation-options.js';
import { Model, type LoadModelOptions } from './model.js';
import { parallelPlanOf, readParallelModel, type StartParallelExecutor } from './parallel-model.js';
import { startParallelExecutor } from '../parallel/start-parallel-executor.js';

export interface CompletionResult {
  readonly text: string;
  readonly tokenIds: number[];
  readonly finishReason: FinishReason;
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
}

/**
 * What `loadModel` returns: a Model plus one-call generation. generate() and complete() run on an
 * AsyncEngine of this object's own, made on first use (up to 8 concurrent calls batched
 * together); for more control make one with createServingEngine(model, options).
 */
export class LoadedModel extends Model {
  private engine: AsyncEngine | undefined;

  static override load(path: string, options: LoadModelOptions = {}): LoadedModel {
    return new LoadedModel(Model.read(path, options));
  }

  /**
   * Loads the model in this process, or, when options ask for tensorParallel × pipelineParallel
   * above 1, on that many workers started by `start` (see readParallelModel).
   */
  static async loadAny(path: string, options: LoadModelOptions, start: StartParallelExecutor): Promise<LoadedModel> {
    const plan = parallelPlanOf(options);
    return plan === undefined ? LoadedModel.load(path, options) : new LoadedModel(await readParallelModel(path, options, plan, start));
  }

  /** Streams generated text. `prompt` is text, or token ids used as they are. */
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

  /**
   * The pooled final hidden state of `text` (mean of its tokens unless options.pooling says
   * otherwise, L2-normalized unless options.normalize is false); for an array, one vector per text,
   * the texts batched together through the engine.
   */
  async embed(text: string, options?: EmbeddingOptions): Promise<Float32Array>;
  async embed(texts: readonly string[], options?: EmbeddingOptions): Promise<Float32Array[]>;
  async embed(input: string | readonly string[], options: EmbeddingOptions = {}): Promise<Float32Array | Float32Array[]> {
    this.engine ??= new AsyncEngine(this, { maxNumSeqs: 8 });
    const results = await this.engine.embed(typeof input === 'string' ? [input] : input, options);
    return typeof input === 'string' ? results[0]!.embedding : results.map((r) => r.embedding);
  }

  /** A conversation with the model through its chat template: `await model.chat().prompt('Hi')`. */
  chat(options?: ChatSessionOptions): ChatSession {
    return new ChatSession(this, options);
  }

  /** Frees the engine's KV cache (when generate, complete or embed made one), then the model (see Model.dispose). */
  override dispose(): void {
    this.engine?.disposeKvCache();
    super.dispose();
  }

  /** dispose(), resolving once a parallel model's workers have stopped */
  override close(): Promise<void> {
    this.engine?.disposeKvCache();
    return super.close();
  }

  /** Logits after every token of `tokenIds` ([tokenIds.length][vocabSize]), in one fresh context. */
  evaluate(tokenIds: readonly number[]): Float32Array[] {
    this.checkTokens(tokenIds);
    return evaluateLogits(this.network, tokenIds, this.kvCacheType);
  }
}

/**
 * Loads a model: in this process, or with options.tensorParallel × options.pipelineParallel above 1
 * on that many workers (src/parallel/).
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  return LoadedModel.loadAny(path, options, startParallelExecutor);
}
