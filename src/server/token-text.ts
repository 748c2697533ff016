import type { Tokenizer } from '../tokenizer/tokenizer.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** One token's text and bytes as the logprobs fields show them (control tokens by their name). */
export function tokenPiece(tokenizer: Tokenizer, tokenId: number): { text: string; bytes: number[] } {
  const bytes = tokenizer.tokenBytes(tokenId, tokenizer.isControl(tokenId));
  return { text: utf8.decode(bytes), bytes: Array.from(bytes) };
}
