/** Helpers for writing GBNF text (the JSON-schema and regex compilers emit GBNF and parse it). */

/** `text` as a GBNF literal; everything outside printable ASCII escaped */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) out += gbnfChar(ch.codePointAt(0)!, false);
  return out + '"';
}

/** one code point inside a GBNF literal (or class, when `inClass`) */
export function gbnfChar(cp: number, inClass: boolean): string {
  if (cp === 0x22 || cp === 0x5c || (inClass && (cp === 0x5d || cp === 0x5b || cp === 0x2d || cp === 0x5e))) return '\\' + String.fromCodePoint(cp);
  if (cp >= 0x20 && cp < 0x7f) return String.fromCodePoint(cp);
  if (cp <= 0xff) return '\\x' + cp.toString(16).padStart(2, '0');
  if (cp <= 0xffff) return '\\u' + cp.toString(16).padStart(4, '0');
  return '\\U' + cp.toString(16).padStart(8, '0');
}

/** a GBNF class matching the code points in normalized `ranges`; `[^\x00-\U0010ffff]` (nothing) when empty */
export function gbnfClass(ranges: readonly number[]): string {
  if (ranges.length === 0) return '[^\\x00-\\U0010ffff]';
  let out = '[';
  for (let i = 0; i < ranges.length; i += 2) {
    out += gbnfChar(ranges[i]!, true);
    if (ranges[i + 1] !== ranges[i]) out += '-' + gbnfChar(ranges[i + 1]!, true);
  }
  return out + ']';
}
