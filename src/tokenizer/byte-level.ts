/**
 * GPT-2's byte-level alphabet: every byte maps to one printable codepoint, so byte-level BPE
 * vocabularies can store arbitrary bytes as text (space → 'Ġ', newline → 'Ċ').
 */

function isPrintableByte(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

// [256] byte → its codepoint in the byte-level alphabet
const BYTE_TO_CODEPOINT: Uint16Array = (() => {
  const table = new Uint16Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = isPrintableByte(b) ? b : 256 + n++;
  return table;
})();

const BYTE_TO_CHAR: readonly string[] = Array.from(BYTE_TO_CODEPOINT, (cp) => String.fromCharCode(cp));

// codepoint (< 0x144) → byte, -1 where the codepoint is not in the alphabet
const CODEPOINT_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) table[BYTE_TO_CODEPOINT[b]!] = b;
  return table;
})();

/** The byte-level text of a string's UTF-8 bytes (each byte becomes one BMP character). */
export function toByteLevel(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      out += BYTE_TO_CHAR[cp]!;
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (cp < 0x800) {
      out += BYTE_TO_CHAR[0xc0 | (cp >> 6)]! + BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!;
    } else if (cp < 0x10000) {
      out += BYTE_TO_CHAR[0xe0 | (cp >> 12)]! + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!;
    } else {
      out +=
        BYTE_TO_CHAR[0xf0 | (cp >> 18)]! +
        BYTE_TO_CHAR[0x80 | ((cp >> 12) & 0x3f)]! +
        BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)]! +
        BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!;
    }
  }
  return out;
}

/** The byte a byte-level codepoint stands for, or -1 if it is not part of the alphabet. */
export function byteLevelToByte(cp: number): number {
  return cp < CODEPOINT_TO_BYTE.length ? CODEPOINT_TO_BYTE[cp]! : -1;
}
