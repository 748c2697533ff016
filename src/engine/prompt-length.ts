import { InvalidRequestError } from '../errors/engine-error.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/**
 * Refuses a prompt that cannot fit on its UTF-8 byte length alone, before it is tokenized: no token
 * is longer than `tokenizer.maxTokenBytes`, so B bytes are at least B / maxTokenBytes tokens (a 4 MB
 * prompt held the event loop ~5.7 s in the tokenizer, only to be refused).
 */
export function checkPromptBytes(prompt: string, tokenizer: Tokenizer, contextSize: number): void {
  const minNumTokens = Math.ceil(Buffer.byteLength(prompt) / tokenizer.maxTokenBytes);
  if (minNumTokens > contextSize) {
    throw new InvalidRequestError('PROMPT_TOO_LONG', `prompt is at least ${minNumTokens} tokens, the context holds ${contextSize}`);
  }
}
