import { TokenAttr } from './token-attr.js';
import type { Vocab } from './vocab.js';

/** A piece of the input: raw text to tokenize, or a special token found in it. */
export type Fragment = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'token'; readonly id: number };

type Span = { readonly start: number; readonly end: number } | { readonly id: number };

/** C isspace() */
function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Cuts special tokens out of the input, as llama.cpp's tokenizer_st_partition does: for each
 * special token, longest first, every occurrence in the remaining raw text becomes a token.
 * User-defined tokens always split; control and unknown tokens only with `parseSpecial`.
 * Tokens with the lstrip / rstrip attribute eat the whitespace beside them.
 */
export function partitionSpecial(text: string, vocab: Vocab, parseSpecial: boolean): Fragment[] {
  if (text.length === 0) return [];
  let spans: Span[] = [{ start: 0, end: text.length }];
  for (const id of vocab.specialIds) {
    const attr = vocab.attrs[id]!;
    if (!parseSpecial && attr & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) continue;
    const tokenText = vocab.texts[id]!;
    if (!text.includes(tokenText)) continue;

    const next: Span[] = [];
    for (const span of spans) {
      if (!('start' in span)) {
        next.push(span);
        continue;
      }
      let start = span.start;
      const end = span.end;
      while (start < end) {
        const match = text.indexOf(tokenText, start);
        if (match < 0 || match + tokenText.length > end) break;
        let leftEnd = match;
        if (attr & TokenAttr.LSTRIP) while (leftEnd > start && isCSpace(text.charCodeAt(leftEnd - 1))) leftEnd--;
        if (leftEnd > start) next.push({ start, end: leftEnd });
        next.push({ id });
        start = match + tokenText.length;
        if (attr & TokenAttr.RSTRIP) while (start < end && isCSpace(text.charCodeAt(start))) start++;
      }
      if (start < end) next.push({ start, end });
    }
    spans = next;
  }
  return spans.map((span) =>
    'start' in span ? { kind: 'text', text: text.slice(span.start, span.end) } : { kind: 'token', id: span.id },
  );
}
