/**
 * Codepoint classes as llama.cpp's tokenizer sees them (src/unicode.h `unicode_cpt_flags`): one
 * general-category bit per codepoint, plus a whitespace bit from llama.cpp's own whitespace set.
 * Categories come from the JS engine's Unicode tables (V8/ICU), except that codepoints llama.cpp's
 * Unicode 15.1 tables leave unassigned stay UNDEFINED whatever the engine's newer tables say (a
 * letter added in Unicode 16 would otherwise split differently).
 */
export const CodepointFlag = {
  /** unassigned (Cn) */
  UNDEFINED: 0x0001,
  NUMBER: 0x0002,
  LETTER: 0x0004,
  SEPARATOR: 0x0008,
  ACCENT_MARK: 0x0010,
  PUNCTUATION: 0x0020,
  SYMBOL: 0x0040,
  /** Cc, Cf, Co, Cs */
  CONTROL: 0x0080,
  CATEGORY_MASK: 0x00ff,
  WHITESPACE: 0x0100,
} as const;

/** llama.cpp's `unicode_set_whitespace` (Python's str.isspace() minus U+001C..U+001F). */
const WHITESPACE_CODEPOINTS = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];

/**
 * The codepoints unassigned (Cn) in Unicode 15.1, as llama.cpp's tables have them: base-36
 * pairs "gap.length", the gap counted from the end of the previous range.
 */
const UNASSIGNED_RANGES =
  'oo.2,6.4,7.1,1.1,k.1,b1.1,12.2,1e.2,3.1,1j.8,r.4,6.b,7i.1,1o.2,2t.e,1n.2,1d.2,f.1,s.2,1.1,b.5,v.1,2.6,6k.1,8.2' +
  ',2.2,m.1,7.1,1.3,4.2,9.2,2.2,4.8,1.4,2.1,5.2,p.2,3.1,6.4,2.2,m.1,7.1,2.1,2.1,2.2,1.1,5.4,2.2,3.3,1.7,4.1,1.7,h' +
  '.a,3.1,9.1,3.1,m.1,7.1,2.1,5.2,a.1,3.1,3.2,1.f,4.2,c.7,7.1,3.1,8.2,2.2,m.1,7.1,2.1,5.2,9.2,2.2,3.7,3.4,2.1,5.2' +
  ',i.a,2.1,6.3,3.1,4.3,2.1,1.1,2.3,2.3,3.3,c.4,5.3,3.1,4.2,1.6,1.e,l.5,d.1,3.1,n.1,g.2,9.1,3.1,4.7,2.1,3.2,1.2,4' +
  '.2,a.7,m.1,3.1,n.1,a.1,5.2,9.1,3.1,4.7,2.6,2.1,4.2,a.1,3.c,d.1,3.1,1f.1,3.1,6.4,g.2,q.1,3.1,i.3,o.1,9.1,1.2,7.' +
  '3,1.4,6.1,1.1,8.6,a.2,3.c,1m.4,t.11,2.1,1.1,5.1,o.1,1.1,n.2,5.1,1.1,7.1,a.2,4.w,20.1,10.4,13.1,10.1,f.1,d.11,5' +
  'i.1,1.5,1.2,ah.1,4.2,7.1,1.1,4.2,15.1,4.2,x.1,4.2,7.1,1.1,4.2,f.1,1l.1,4.2,1v.2,w.3,q.6,2e.2,6.2,il.3,2h.7,m.9' +
  ',o.9,k.c,d.1,3.1,2.c,2m.2,a.6,a.6,q.6,2h.7,17.5,1y.a,v.1,c.4,c.4,1.3,16.2,5.b,18.4,q.6,b.3,1q.2,1t.1,t.2,b.6,a' +
  '.6,e.2,v.1d,25.3,1b.1,38.8,1o.3,f.3,1o.7,17.2,b.8,17.5,eu.2,6.2,12.2,6.2,8.1,1.1,1.1,1.1,v.2,1h.1,f.1,e.2,6.1,' +
  'j.2,3.1,9.1,2t.1,c.2,r.1,d.3,x.f,x.f,3w.4,if.p,b.l,1ec.2,w.1,9p.5,19.1,1.5,1.2,1k.7,2.e,o.9,7.1,7.1,7.1,7.1,7.' +
  '1,7.1,7.1,7.1,3i.y,q.1,2h.c,5y.q,28.1,2e.2,2v.5,17.1,2m.1,2c.b,1c.1,mlp.3,1j.9,9o.k,54.8,5n.5,2.1,1.1,5.o,1n.3' +
  ',a.6,1k.8,1y.8,c.6,38.b,u.3,26.1,b.4,x.1,1j.9,e.2,a.2,2v.o,s.a,6.2,6.2,6.9,7.1,7.1,1o.4,3i.2,a.6,8mc.c,n.4,1d.' +
  '4,6su.2,2y.12,7.c,5.5,q.1,5.1,1.1,2.1,2.1,3h.g,cd.2,1i.7,1.w,16.6,1f.1,j.1,4.4,5.1,3r.2,1.1,5a.3,6.2,6.2,6.2,3' +
  '.3,7.1,7.a,5.2,c.1,q.1,j.1,2.1,f.2,e.y,3f.5,3.4,19.3,2g.1,d.3,1.1b,1a.3m,t.3,1d.f,s.4,10.9,u.5,17.5,u.1,11.4,e' +
  '.16,4e.2,a.6,10.4,10.4,14.8,1g.b,c.1,f.1,7.1,2.1,b.1,f.1,7.1,2.1v,8n.9,m.a,8.o,6.1,16.1,9.1x,6.2,1.1,18.1,2.3,' +
  '1.2,n.1,20.8,9.1c,j.1,2.5,x.3,r.5,1.1s,1k.4,k.2,1e.1,2.5,8.1,3.1,t.2,3.4,a.7,9.7,1s.w,13.4,c.9,1i.3,t.2,r.5,q.' +
  '7,4.c,7.28,21.1j,1f.d,1f.7,1a.8,a.86,v.1,16.1,3.2,2.23,17.8,16.m,q.12,s.k,n.9,26.4,10.9,1w.a,1.2,p.7,a.6,1h.1,' +
  'i.8,13.9,2o.1,k.b,i.1,1b.1q,7.1,1.1,4.1,f.1,b.6,1n.5,a.6,4.1,8.2,2.2,m.1,7.1,2.1,5.1,a.2,2.2,3.2,1.6,1.5,7.2,7' +
  '.3,5.3v,2k.1,5.u,20.8,a.4m,1i.2,12.y,1x.b,a.6,d.j,1m.6,a.1i,r.2,f.4,n.55,1o.2s,2b.c,8.2,1.2,8.1,2.1,u.1,2.2,c.' +
  '9,a.1y,8.2,1a.2,b.r,20.8,2b.d,21.7,a.6u,9.1,19.1,e.a,t.3,w.2,m.1,e.21,7.1,2.1,18.3,1.1,2.1,9.8,a.6,6.1,2.1,11.' +
  '1,2.1,6.7,a.8m,p.7,h.1,15.3,s.2e,1.f,1e.d,pn.2u,33.1,5.b,5g.218,2r.d,uu.33e,g7.6nt,ft.7,v.1,a.4,29.1,a.6,u.2,6' +
  '.a,1y.a,a.1,7.1,l.5,j.j4,2j.2t,23.4,1l.7,h.1s,5.b,2.e,4qg.8,ye.16,9.6w7,4.1,7.1,2.1,83.f,1.t,3.2,1.e,4.8,b0.1s' +
  '4,2z.5,d.3,9.7,a.2,8.3mk,1a.2,n.9,38.1o,6u.a,13.2,5e.l,1y.3e,k.c,k.c,2f.9,p.3r,2d.1,1z.1,2.2,1.2,2.2,4.1,c.1,1' +
  '.1,7.1,1t.1,4.2,8.1,7.1,s.1,4.1,5.1,1.3,7.1,9g.2,84.2,ji.f,5.1,f.uo,v.6,6.5x,7.1,h.2,7.1,2.1,5.5,1q.x,1.34,19.' +
  '3,e.2,a.4,2.8w,v.h,1m.5,1.cw,16.km,7.1,4.1,2.1,f.1,5h.2,g.15,24.4,a.4,2.lt,1w.24,1p.5e,4.1,r.1,2.1,1.2,1.1,a.1' +
  ',4.1,1.1,1.6,1.4,1.1,1.1,1.1,3.1,2.1,1.2,1.1,1.1,1.1,1.1,1.1,2.1,1.2,4.1,7.1,4.1,4.1,1.1,a.1,h.5,3.1,5.1,h.1g,' +
  '2.7i,18.4,2s.c,f.2,f.1,f.1,11.a,4u.1k,t.d,18.4,9.7,2.e,6.4a,rc.4,h.3,d.3,3b.4,2n.6,c.4,1.f,c.4,1k.8,a.6,14.8,u' +
  '.2,2.26,9g.c,e.2,d.3,9.7,1a.1,7.8,e.4,9.7,9.7,43.1,1j.11,a.sm,wyo.w,37e.6,66.2,4g2.e,5rl.f,ha.1wi,f2.15u,3t7.5' +
  ',38g.f975,1.u,2o.3k,6o.1e6o,1eke.2,1eke.2';

// [2 * numRanges] start, end (exclusive) of each unassigned range, ascending
let unassigned: Int32Array | undefined;

function decodeUnassigned(): Int32Array {
  const pairs = UNASSIGNED_RANGES.split(',');
  const out = new Int32Array(pairs.length * 2);
  let end = 0;
  pairs.forEach((pair, i) => {
    const [gap, length] = pair.split('.');
    const start = end + parseInt(gap!, 36);
    end = start + parseInt(length!, 36);
    out[2 * i] = start;
    out[2 * i + 1] = end;
  });
  return out;
}

function isUnassigned(cp: number): boolean {
  const ranges = (unassigned ??= decodeUnassigned());
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]!) hi = mid - 1;
    else if (cp >= ranges[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

const MAX_CODEPOINT = 0x10ffff;
const CATEGORY_PATTERN = /(\p{L})|(\p{N})|(\p{P})|(\p{M})|(\p{S})|(\p{Z})|(\p{Cn})/u;
const CATEGORY_BY_GROUP = [
  CodepointFlag.LETTER,
  CodepointFlag.NUMBER,
  CodepointFlag.PUNCTUATION,
  CodepointFlag.ACCENT_MARK,
  CodepointFlag.SYMBOL,
  CodepointFlag.SEPARATOR,
  CodepointFlag.UNDEFINED,
];

// [0x110000] u16, filled on first use of each codepoint; 0 = not computed yet (every real
// codepoint has exactly one category bit set).
let flagTable: Uint16Array | undefined;

function computeFlags(cp: number): number {
  if (isUnassigned(cp)) return CodepointFlag.UNDEFINED;
  let flags: number = CodepointFlag.CONTROL;
  const m = CATEGORY_PATTERN.exec(String.fromCodePoint(cp));
  if (m) {
    for (let g = 1; g < m.length; g++) {
      if (m[g] !== undefined) {
        flags = CATEGORY_BY_GROUP[g - 1]!;
        break;
      }
    }
  }
  return flags;
}

function buildTable(): Uint16Array {
  const table = new Uint16Array(MAX_CODEPOINT + 1);
  for (let cp = 0; cp < 0x80; cp++) table[cp] = computeFlags(cp);
  for (const cp of WHITESPACE_CODEPOINTS) table[cp] = computeFlags(cp) | CodepointFlag.WHITESPACE;
  return table;
}

/** Flags of one codepoint; 0 for values outside the Unicode range. */
export function codepointFlags(cp: number): number {
  if (cp < 0 || cp > MAX_CODEPOINT) return 0;
  const table = (flagTable ??= buildTable());
  let flags = table[cp]!;
  if (flags === 0) {
    flags = computeFlags(cp);
    table[cp] = flags;
  }
  return flags;
}
