/**
 * A code point range as UTF-8 byte sequences: each sequence is a list of [lo, hi] byte ranges, one
 * per byte, and the sequences together match exactly the encodings of the code points in the range
 * (the construction of Rust regex-syntax's Utf8Sequences). Surrogates must already be excluded.
 */
export function utf8Sequences(lo: number, hi: number): [number, number][][] {
  const out: [number, number][][] = [];
  split(lo, hi, out);
  return out;
}

const MAX_BY_LENGTH = [0x7f, 0x7ff, 0xffff, 0x10ffff];

function split(lo: number, hi: number, out: [number, number][][]): void {
  if (lo > hi) return;
  for (const boundary of MAX_BY_LENGTH) {
    if (lo <= boundary && hi > boundary) {
      split(lo, boundary, out);
      split(boundary + 1, hi, out);
      return;
    }
  }
  const n = encodedLength(lo);
  if (n === 1) {
    out.push([[lo, hi]]);
    return;
  }
  for (let i = 1; i < n; i++) {
    const m = (1 << (6 * i)) - 1;
    if ((lo & ~m) !== (hi & ~m)) {
      if ((lo & m) !== 0) {
        split(lo, lo | m, out);
        split((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) !== m) {
        split(lo, (hi & ~m) - 1, out);
        split(hi & ~m, hi, out);
        return;
      }
    }
  }
  const a = encode(lo);
  const b = encode(hi);
  out.push(a.map((byte, i) => [byte, b[i]!] as [number, number]));
}

function encodedLength(cp: number): number {
  return cp <= 0x7f ? 1 : cp <= 0x7ff ? 2 : cp <= 0xffff ? 3 : 4;
}

export function encode(cp: number): number[] {
  if (cp <= 0x7f) return [cp];
  if (cp <= 0x7ff) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp <= 0xffff) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}
