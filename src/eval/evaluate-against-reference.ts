import type { Model } from '../engine/model.js';
import { InvalidRequestError } from '../errors/engine-error.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';
import { DivergenceAccumulator, type DivergenceStatistics } from './divergence-statistics.js';
import { evalWindows, MIN_CONTEXT_SIZE, numScoredPerWindow } from './eval-windows.js';
import { quantizeReferenceLogProbs } from './reference-log-probs.js';
import { checkSameVocabulary } from './same-vocabulary.js';
import { compareToken } from './token-divergence.js';

export interface EvalOptions {
  /** window length in tokens; both models' contexts must hold it */
  readonly contextSize: number;
  /** called after each window with the windows done and their total */
  readonly onProgress?: (numWindowsDone: number, numWindows: number) => void;
}

export interface EvalResult {
  /** the text's tokens, BOS included where the vocabulary adds one */
  readonly numTextTokens: number;
  readonly contextSize: number;
  readonly numWindows: number;
  /** per model, in the order given */
  readonly statistics: readonly DivergenceStatistics[];
}

/**
 * `llama-perplexity --kl-divergence` for each of `models` against `reference` on `text`: the text
 * tokenized by the reference (BOS added as its vocabulary says, special-token text read as text; one
 * trailing newline dropped, as llama.cpp's `-f` does), cut into windows (see eval-windows.ts), each
 * window run through the reference and then through every model from an empty KV cache, and each
 * scored position compared (token-divergence.ts) against the reference's 16-bit log-probabilities
 * (reference-log-probs.ts). Several models share the reference's pass, so a candidate and its
 * anchors see the same reference log-probabilities.
 *
 * Throws InvalidRequestError: 'VOCAB_MISMATCH' when a model reads token ids otherwise than the
 * reference, 'TEXT_TOO_SHORT' when the text does not fill one window, 'INVALID_ARGUMENT' for a
 * window the models' contexts cannot hold.
 */
export async function evaluateAgainstReference(reference: Model, models: readonly Model[], text: string, options: EvalOptions): Promise<EvalResult> {
  const { contextSize } = options;
  for (const model of models) checkSameVocabulary(model, reference);
  if (!Number.isInteger(contextSize) || contextSize < MIN_CONTEXT_SIZE) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `the window must be at least ${MIN_CONTEXT_SIZE} tokens (got ${contextSize})`);
  }
  for (const m of [reference, ...models]) {
    if (m.contextSize < contextSize) throw new InvalidRequestError('INVALID_ARGUMENT', `a window of ${contextSize} tokens does not fit the context of ${m.contextSize} that ${m.path} was loaded with`);
  }
  const tokenIds = reference.tokenize(text.endsWith('\n') ? text.slice(0, -1) : text, { addSpecial: true, parseSpecial: false });
  const bosId = reference.tokenizer.addBos ? reference.tokenizer.bosId : undefined;
  const windows = evalWindows(tokenIds, contextSize, bosId);
  if (windows.length === 0) {
    throw new InvalidRequestError('TEXT_TOO_SHORT', `the text is ${tokenIds.length} tokens; one window needs ${contextSize} (lower --context or give a longer text)`);
  }
  const accumulators = models.map(() => new DivergenceAccumulator());
  const numScored = numScoredPerWindow(contextSize);
  for (const [w, window] of windows.entries()) {
    const first = window.firstScoredPosition;
    // [numScored] log-probabilities predicting window.tokenIds[first + 1 + j], as llama.cpp's logits file holds them
    const referenceLogProbs = evaluateRows(reference, window.tokenIds, first, numScored).map(quantizeReferenceLogProbs);
    for (const [m, model] of models.entries()) {
      const rows = evaluateRows(model, window.tokenIds, first, numScored);
      for (let j = 0; j < numScored; j++) accumulators[m]!.add(compareToken(rows[j]!, referenceLogProbs[j]!, window.tokenIds[first + 1 + j]!));
    }
    options.onProgress?.(w + 1, windows.length);
    await new Promise<void>((resolve) => setImmediate(resolve)); // let the event loop breathe between windows
  }
  return { numTextTokens: tokenIds.length, contextSize, numWindows: windows.length, statistics: accumulators.map((a) => a.summarize()) };
}

/** The logits at positions first .. first + count − 1 of one window, from an empty KV cache ([count][vocabSize] f32). */
function evaluateRows(model: Model, tokenIds: readonly number[], first: number, count: number): Float32Array[] {
  model.checkTokens(tokenIds);
  return evaluateLogits(model.network, tokenIds, model.kvCacheType, first).slice(0, count);
}
