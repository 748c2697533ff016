import { describe, expect, it } from 'vitest';
import { takeCharClass, takeCodePoint, takeHex, type ClassProblem, type TextCursor } from './char-class.js';
import { MAX_CODE_POINT } from './grammar-ir.js';

class ClassError extends Error {
  constructor(readonly problem: ClassProblem, readonly at: number) {
    super(`${problem} at ${at}`);
  }
}

/** a class read with members that are code points, or `%` standing for the set [0-9] */
function readClass(src: string, start = 0): { ranges: number[]; cur: TextCursor } {
  const cur: TextCursor = { src, pos: start };
  const member = (): readonly number[] => {
    if (src[cur.pos] === '%') {
      cur.pos++;
      return [0x30, 0x39];
    }
    const cp = takeCodePoint(cur);
    return [cp, cp];
  };
  const ranges = takeCharClass(cur, member, (problem, at) => new ClassError(problem, at));
  return { ranges, cur };
}

const cps = (s: string): number[] => [...s].map((c) => c.codePointAt(0)!);

describe('takeCharClass', () => {
  it('reads members and ranges into sorted, merged ranges and stops past the ]', () => {
    const { ranges, cur } = readClass('x[c-eab%]y', 1);
    expect(ranges).toEqual([0x30, 0x39, ...cps('ae')]);
    expect(cur.pos).toBe(9);
  });

  it('takes a - first or last as itself, and negates with ^', () => {
    expect(readClass('[-a]').ranges).toEqual([0x2d, 0x2d, 0x61, 0x61]);
    expect(readClass('[a-]').ranges).toEqual([0x2d, 0x2d, 0x61, 0x61]);
    expect(readClass('[^\u0000-b]').ranges).toEqual([0x63, 0xd7ff, 0xe000, MAX_CODE_POINT]);
  });

  it('reads a surrogate pair as one code point, in a range too', () => {
    expect(readClass('[🐦-🐧]').ranges).toEqual([0x1f426, 0x1f427]);
  });

  it.each([
    ['[a-c', 'unterminated', 0],
    ['[', 'unterminated', 0],
    ['x[c-a]', 'range-out-of-order', 1],
    ['[%-z]', 'range-of-set', 0],
    ['[a-%]', 'range-of-set', 0],
  ] as const)('refuses %j: %s at %i', (src, problem, at) => {
    let error: unknown;
    try {
      readClass(src, src.indexOf('['));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClassError);
    expect(error).toMatchObject({ problem, at });
  });
});

describe('takeHex', () => {
  it('takes exactly the digits asked for', () => {
    const cur: TextCursor = { src: '00e9ff', pos: 0 };
    expect(takeHex(cur, 4)).toBe(0xe9);
    expect(cur.pos).toBe(4);
  });

  it('takes nothing when the digits are short or not hex', () => {
    for (const src of ['0e', '0g12', '+1ab']) {
      const cur: TextCursor = { src, pos: 0 };
      expect(takeHex(cur, 4)).toBeUndefined();
      expect(cur.pos).toBe(0);
    }
  });
});
