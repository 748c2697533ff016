import type { Tokenizer } from './tokenizer.js';

export interface StreamingDetokenizerOptions {
  /** render control tokens as their text (default false) */
  readonly special?: boolean;
  /**
   * drop the first token's leading space where the tokenizer adds a space prefix (SentencePiece),
   * as llama_detokenize does for a whole sequence. Leave it off (the default) when the tokens
   * continue a prompt: a generated "▁time" after "Once upon a" must stay " time".
   */
  readonly stripLeadingSpace?: boolean;
}

/**
 * Turns token ids into text one token at a time. Returns only complete UTF-8: the bytes of a
 * character split across tokens (emoji, CJK, byte-fallback tokens) are held back until the
 * character is complete, so no U+FFFD appears for them. Invalid bytes still decode to U+FFFD.
 * No clean-up of spaces is applied (llama.cpp's server streams raw pieces the same way).
 */
export class StreamingDetokenizer {
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private isFirstToken = true;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly options: StreamingDetokenizerOptions = {},
  ) {}

  /** The text that became complete with this token (often '', e.g. mid-character). */
  push(id: number): string {
    let bytes = this.tokenizer.tokenBytes(id, this.options.special ?? false);
    if (this.isFirstToken && this.options.stripLeadingSpace && this.tokenizer.addSpacePrefix && bytes[0] === 0x20) {
      bytes = bytes.subarray(1);
    }
    this.isFirstToken = false;
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: returns what is still held back (an incomplete character becomes U+FFFD) and resets. */
  flush(): string {
    const rest = this.decoder.decode();
    this.isFirstToken = true;
    return rest;
  }
}
