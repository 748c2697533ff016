import type { FinishReason, GenerationChunk, GenerationOptions } from '../engine/generation-options.js';
import type { RequestContext } from './route.js';

/** A generation whose first chunk has arrived: request errors (bad prompt, queue full) are behind us. */
interface PrimedChoice {
  readonly index: number;
  readonly generator: AsyncGenerator<GenerationChunk>;
  readonly first: IteratorResult<GenerationChunk>;
}

export interface ChoicesUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/**
 * The n generations ("choices") of one completion request, from its tokenized prompt. `start` launches them all and waits for
 * each one's first chunk, so that errors the engine reports for the request (PROMPT_TOO_LONG,
 * QUEUE_FULL) reach the client as a plain HTTP error before any response is sent. `run` then streams
 * every choice's chunks to `onChunk` concurrently, recording metrics as they finish.
 */
export class ChoiceStreams {
  private constructor(
    private readonly ctx: RequestContext,
    private readonly choices: readonly PrimedChoice[],
    private readonly abortAll: () => void,
  ) {}

  static async start(
    ctx: RequestContext,
    promptIds: readonly number[],
    options: GenerationOptions,
    numChoices: number,
  ): Promise<ChoiceStreams> {
    // one controller per choice, so each signal has one listener (the engine's) whatever n is,
    // and one listener on the request's signal fans out to them
    const controllers = Array.from({ length: numChoices }, () => new AbortController());
    const abortAll = (): void => controllers.forEach((c) => c.abort());
    if (ctx.signal.aborted) abortAll();
    else ctx.signal.addEventListener('abort', abortAll, { once: true });
    const generators: AsyncGenerator<GenerationChunk>[] = [];
    try {
      for (let index = 0; index < numChoices; index++) {
        // n > 1 with a seed: different but reproducible choices
        const seed = options.seed === undefined || index === 0 ? options.seed : (options.seed + index) % 2 ** 32;
        generators.push(ctx.engine.generate(promptIds, { ...options, seed, signal: controllers[index]!.signal }));
      }
      const firsts = await Promise.all(generators.map((g) => g.next()));
      return new ChoiceStreams(
        ctx,
        generators.map((generator, index) => ({ index, generator, first: firsts[index]! })),
        abortAll,
      );
    } catch (err) {
      abortAll();
      await Promise.allSettled(generators.map((g) => g.return(undefined)));
      throw err;
    }
  }

  /**
   * Streams every choice to onChunk; resolves with the summed usage once all have finished. When
   * the request is aborted it rejects with the abort's reason (the server's HttpError when it is
   * shutting down) instead of passing on the engine's 'abort' finish.
   */
  async run(onChunk: (index: number, chunk: GenerationChunk) => void): Promise<ChoicesUsage> {
    let promptTokens = 0;
    let completionTokens = 0;
    try {
      await Promise.all(
        this.choices.map(async (choice) => {
          let firstTokenAtMs = 0;
          let lastTokenAtMs = 0;
          let result = choice.first;
          while (!result.done) {
            const chunk = result.value;
            if (chunk.tokenIds.length > 0) {
              const nowMs = performance.now();
              if (!firstTokenAtMs) {
                firstTokenAtMs = nowMs;
                this.ctx.record.noteFirstToken(nowMs);
                this.ctx.metrics.observeFirstToken((nowMs - this.ctx.arrivedAtMs) / 1000);
              } else {
                this.ctx.metrics.observeInterToken((nowMs - lastTokenAtMs) / 1000);
              }
              lastTokenAtMs = nowMs;
            }
            if (chunk.usage) {
              promptTokens = chunk.usage.promptTokens; // the same prompt for every choice
              completionTokens += chunk.usage.completionTokens;
              this.ctx.record.addUsage(chunk.usage.promptTokens, chunk.usage.completionTokens);
              const nowMs = performance.now();
              this.ctx.metrics.observeFinished({
                reason: chunk.finishReason ?? 'stop',
                numPromptTokens: chunk.usage.promptTokens,
                numGeneratedTokens: chunk.usage.completionTokens,
                e2eSeconds: (nowMs - this.ctx.arrivedAtMs) / 1000,
                decodeSeconds: firstTokenAtMs ? (nowMs - firstTokenAtMs) / 1000 : 0,
                timings: chunk.timings,
              });
            }
            // aborted (the engine's last chunk says 'abort'): the reason goes to the handler, not the chunk
            this.ctx.signal.throwIfAborted();
            onChunk(choice.index, chunk);
            result = await choice.generator.next();
          }
        }),
      );
    } catch (err) {
      this.abortAll();
      await Promise.allSettled(this.choices.map((c) => c.generator.return(undefined)));
      throw err;
    }
    return { promptTokens, completionTokens };
  }
}

/** OpenAI's finish_reason; an aborted generation only happens when the client has gone away. */
export function toWireFinishReason(reason: FinishReason): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}

export function toWireUsage(usage: ChoicesUsage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}
