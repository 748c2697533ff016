import { describe, expect, it } from 'vitest';
import { Automaton, DEAD } from './automaton.js';
import { lowerGrammar } from './byte-program.js';
import { parseGbnf } from './gbnf-parser.js';
import { nonNegativeRange } from './integer-range.js';

const enc = new TextEncoder();

describe('nonNegativeRange', () => {
  it('matches exactly the decimal integers in [lo, hi], without leading zeros', () => {
    const pairs: [number, number][] = [[0, 0], [0, 9], [5, 123], [10, 99], [7, 1000], [199, 2001], [0, 1299], [45, 45], [100, 100], [98, 102]];
    for (const [lo, hi] of pairs) {
      const a = new Automaton(lowerGrammar(parseGbnf(`root ::= ${nonNegativeRange(lo, hi).map((x) => `( ${x} )`).join(' | ')}`)));
      const accepts = (text: string): boolean => {
        const s = a.run(a.initial, enc.encode(text));
        return s !== DEAD && a.canEnd(s);
      };
      for (let n = 0; n <= 2100; n++) expect(accepts(String(n)), `${n} in [${lo}, ${hi}]`).toBe(n >= lo && n <= hi);
      expect(accepts('0' + String(lo))).toBe(false);
    }
  });

  it('stays small for wide ranges', () => {
    expect(nonNegativeRange(123, 987654321098765).length).toBeLessThan(60);
  });
});
