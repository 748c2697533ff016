import { complementRanges, normalizeRanges } from './grammar-ir.js';

/**
 * The character-level syntax GBNF and regular expressions share: bracketed classes (`[a-z\d-]`,
 * `[^...]`), code points and fixed-width hex escapes, read from a parser's text at its position.
 * Each parser reads its own escapes (the two languages know different ones) and words its own
 * errors; what the class syntax itself can get wrong is a ClassProblem.
 */
export interface TextCursor {
  readonly src: string;
  /** index (UTF-16 units) of the next unread character */
  pos: number;
}

export type ClassProblem = 'unterminated' | 'range-out-of-order' | 'range-of-set';

export const CLASS_PROBLEM_TEXT: Readonly<Record<ClassProblem, string>> = {
  unterminated: 'unterminated character class',
  'range-out-of-order': 'character range out of order',
  'range-of-set': 'character range with a set (such as \\d) at one end',
};

/** The code point at the cursor (a surrogate pair is one), taken. */
export function takeCodePoint(cur: TextCursor): number {
  const cp = cur.src.codePointAt(cur.pos)!;
  cur.pos += cp > 0xffff ? 2 : 1;
  return cp;
}

/** Exactly `digits` hex digits at the cursor, taken; undefined, with nothing taken, when they are not there. */
export function takeHex(cur: TextCursor, digits: number): number | undefined {
  const hex = cur.src.slice(cur.pos, cur.pos + digits);
  if (hex.length !== digits || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  cur.pos += digits;
  return parseInt(hex, 16);
}

/**
 * The class whose `[` is at the cursor, as normalized code point ranges; the cursor ends past its
 * `]`. `takeMember` reads one member at the cursor (a character, or an escape that the caller
 * knows) as ranges; a `-` between two members makes a range, and a `-` first or last is itself.
 * `fail` turns a problem and the class's start into the error to throw.
 */
export function takeCharClass(cur: TextCursor, takeMember: () => readonly number[], fail: (problem: ClassProblem, at: number) => Error): number[] {
  const at = cur.pos;
  cur.pos++;
  const isNegated = cur.src[cur.pos] === '^';
  if (isNegated) cur.pos++;
  const pairs: number[] = [];
  while (cur.src[cur.pos] !== ']') {
    if (cur.pos >= cur.src.length) throw fail('unterminated', at);
    const lo = takeMember();
    if (cur.src[cur.pos] === '-' && cur.pos + 1 < cur.src.length && cur.src[cur.pos + 1] !== ']') {
      cur.pos++;
      const hi = takeMember();
      if (!isSingle(lo) || !isSingle(hi)) throw fail('range-of-set', at);
      if (hi[0]! < lo[0]!) throw fail('range-out-of-order', at);
      pairs.push(lo[0]!, hi[0]!);
    } else pairs.push(...lo);
  }
  cur.pos++;
  const ranges = normalizeRanges(pairs);
  return isNegated ? complementRanges(ranges) : ranges;
}

const isSingle = (ranges: readonly number[]): boolean => ranges.length === 2 && ranges[0] === ranges[1];
