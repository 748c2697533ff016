/**
 * How `llama-perplexity` cuts a text into context windows: the text's tokens (BOS first when the
 * vocabulary adds one) in consecutive windows of `contextSize` tokens, the last incomplete one
 * dropped; each window is evaluated from an empty KV cache with its first token replaced by BOS
 * (when the vocabulary adds one), and only its second half is scored: the logits at positions
 * floor(contextSize/2) .. contextSize−2, each predicting the next token of the window, so every
 * scored token has at least half a window of context.
 */
export interface EvalWindow {
  /** [contextSize] the tokens fed to the model, BOS first where the vocabulary adds one */
  readonly tokenIds: readonly number[];
  /** the first position whose logits are scored: floor(contextSize / 2) */
  readonly firstScoredPosition: number;
}

/** The smallest window with a position to score (floor(n/2) ≤ n − 2). */
export const MIN_CONTEXT_SIZE = 4;

export function numEvalWindows(numTokens: number, contextSize: number): number {
  return Math.floor(numTokens / contextSize);
}

/** Tokens scored per window: contextSize − 1 − floor(contextSize / 2). */
export function numScoredPerWindow(contextSize: number): number {
  return contextSize - 1 - Math.floor(contextSize / 2);
}

/** The windows of `tokenIds` (the whole text's tokens); `bosId` replaces each window's first token when given. */
export function evalWindows(tokenIds: readonly number[], contextSize: number, bosId: number | undefined): EvalWindow[] {
  if (!Number.isInteger(contextSize) || contextSize < MIN_CONTEXT_SIZE) throw new RangeError(`a window needs at least ${MIN_CONTEXT_SIZE} tokens (got ${contextSize})`);
  return Array.from({ length: numEvalWindows(tokenIds.length, contextSize) }, (_, w) => {
    const ids = tokenIds.slice(w * contextSize, (w + 1) * contextSize);
    if (bosId !== undefined) ids[0] = bosId;
    return { tokenIds: ids, firstScoredPosition: Math.floor(contextSize / 2) };
  });
}
