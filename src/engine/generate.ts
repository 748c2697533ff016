import { InvalidRequestError } from '../errors/engine-error.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import { resolveSamplingParams } from '../sampling/sampling-params.js';
import { Sampler } from '../sampling/sampler.js';
import { computeLogprobs } from '../sampling/compute-logprobs.js';
import { StreamingDetokenizer } from '../tokenizer/streaming-detokenizer.js';
import { validateGenerationOptions, type FinishReason, type GenerationChunk, type GenerationOptions } from './generation-options.js';
import type { Model } from './model.js';
import { StopMatcher } from './stop-matcher.js';

const PREFILL_CHUNK_TOKENS = 512;
const DEFAULT_MAX_TOKENS = 256;

/** Yields to the event loop so that streaming I/O and abort signals get a turn between tokens. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One sequence from prompt to finish: prefill the prompt in chunks, then decode one token per
 * step (forward → sample → detokenize → stop check) until EOS, a stop string, maxTokens, the
 * context limit or an abort.
 */
export async function* generate(
  model: Model,
  promptIds: readonly number[],
  options: GenerationOptions,
): AsyncGenerator<GenerationChunk> {
  validateGenerationOptions(options);
  const sampler = new Sampler(resolveSamplingParams(options));
  if (promptIds.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', 'prompt is empty');
  model.checkTokens(promptIds);
  if (promptIds.length >= model.contextSize) {
    throw new InvalidRequestError(
      'PROMPT_TOO_LONG',
      `prompt is ${promptIds.length} tokens, which leaves no room to generate in a context of ${model.contextSize}`,
    );
  }
  const maxTokens = Math.min(options.maxTokens ?? DEFAULT_MAX_TOKENS, model.contextSize - promptIds.length);
  const history = [...promptIds];
  const { kv, blockTable } = model.createSequenceCache(promptIds.length + maxTokens);
  // with no text in the prompt the output starts the text: drop SentencePiece's leading space there
  const detokenizer = new StreamingDetokenizer(model.tokenizer, {
    stripLeadingSpace: promptIds.every((id) => model.tokenizer.isControl(id)),
  });
  const stopMatcher = new StopMatcher(options.stop ?? []);
  const usage = () => ({ promptTokens: promptIds.length, completionTokens: history.length - promptIds.length });

  const forward = (start: number, end: number): Float32Array => {
    const n = end - start;
    const batch: ForwardBatch = {
      tokenIds: Int32Array.from(history.slice(start, end)),
      positions: Int32Array.from({ length: n }, (_, i) => start + i),
      sequences: [{ start: 0, numTokens: n, blockTable }],
      logitRows: Int32Array.of(n - 1),
    };
    return model.network.forward(batch, kv);
  };

  if (maxTokens === 0) {
    yield { text: '', tokenIds: [], finishReason: 'length', usage: usage() };
    return;
  }
  let logits!: Float32Array;
  for (let start = 0; start < promptIds.length; start += PREFILL_CHUNK_TOKENS) {
    if (options.signal?.aborted) break;
    logits = forward(start, Math.min(start + PREFILL_CHUNK_TOKENS, promptIds.length));
    await yieldToEventLoop();
  }

  let finishReason: FinishReason = 'length';
  while (true) {
    if (options.signal?.aborted) {
      finishReason = 'abort';
      break;
    }
    const tokenId = sampler.sample(logits, history);
    const logprobs = options.logprobs !== undefined ? [computeLogprobs(logits, tokenId, options.logprobs)] : undefined;
    history.push(tokenId);
    const numGenerated = history.length - promptIds.length;
    if (!options.ignoreEos && model.tokenizer.isEndOfGeneration(tokenId)) {
      finishReason = 'stop';
      yield { text: '', tokenIds: [tokenId], logprobs };
      break;
    }
    const { text, isStopped } = stopMatcher.push(detokenizer.push(tokenId));
    if (isStopped) {
      finishReason = 'stop';
      yield { text, tokenIds: [tokenId], logprobs };
      break;
    }
    yield { text, tokenIds: [tokenId], logprobs };
    if (numGenerated >= maxTokens) break;
    logits = forward(history.length - 1, history.length);
    await yieldToEventLoop();
  }
  let tail = '';
  if (finishReason !== 'stop') {
    const last = stopMatcher.push(detokenizer.flush());
    tail = last.isStopped ? last.text : last.text + stopMatcher.flush();
    if (last.isStopped) finishReason = 'stop';
  }
  yield { text: tail, tokenIds: [], finishReason, usage: usage() };
}
