/** llama.cpp's per-token attribute bits (include/llama.h `llama_token_attr`). */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

/** GGUF `tokenizer.ggml.token_type` value → attribute bits. */
/** the largest llama_token_type (LLAMA_TOKEN_TYPE_BYTE) */
export const MAX_TOKEN_TYPE = 6;

export function attrFromTokenType(tokenType: number): number {
  switch (tokenType) {
    case 1:
      return TokenAttr.NORMAL;
    case 2:
      return TokenAttr.UNKNOWN;
    case 3:
      return TokenAttr.CONTROL;
    case 4:
      return TokenAttr.USER_DEFINED;
    case 5:
      return TokenAttr.UNUSED;
    case 6:
      return TokenAttr.BYTE;
    default:
      return TokenAttr.UNDEFINED;
  }
}
