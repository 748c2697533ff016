import { describe, expect, it } from 'vitest';
import { Automaton, DEAD } from './automaton.js';
import { lowerGrammar } from './byte-program.js';
import { parseGbnf } from './gbnf-parser.js';

const automaton = (gbnf: string): Automaton => new Automaton(lowerGrammar(parseGbnf(gbnf)));

/** every 2-byte input over `alphabet`: complete match exactly when `expected` says so, viable prefix exactly when some completion exists */
function checkAllPairs(a: Automaton, alphabet: number[], expected: (x: number, y: number) => boolean): void {
  const wrong: string[] = [];
  for (const x of alphabet) {
    const s1 = a.next(a.initial, x);
    const viable = alphabet.some((y) => expected(x, y));
    if ((s1 !== DEAD) !== viable) wrong.push(`prefix ${x}`);
    for (const y of alphabet) {
      const s2 = s1 === DEAD ? DEAD : a.next(s1, y);
      if ((s2 !== DEAD && a.canEnd(s2)) !== expected(x, y)) wrong.push(`${x} ${y}`);
    }
  }
  expect(wrong).toEqual([]);
}

describe('Automaton byte groups (bytes taken by the same stacks share one closure)', () => {
  it('overlapping classes: bytes taken by different sets of stacks lead to different states', () => {
    // a: first alternative only; b, c: both; d: second only
    const a = automaton('root ::= [a-c] "x" | [b-d] "y"');
    const alphabet = [...'abcdexy'].map((c) => c.charCodeAt(0));
    const ok = new Set(['ax', 'bx', 'cx', 'by', 'cy', 'dy']);
    checkAllPairs(a, alphabet, (x, y) => ok.has(String.fromCharCode(x, y)));
    // b and c share their next state, a and d do not
    const next = (c: string): number => a.next(a.initial, c.charCodeAt(0));
    expect(next('b')).toBe(next('c'));
    expect(new Set([next('a'), next('b'), next('d')]).size).toBe(3);
  });

  it('more distinct byte sets in one state than the grouping bitmask holds: every byte on its own', () => {
    // 40 alternatives, each a different class of two letters followed by a digit
    const letters = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO'].map((c) => c.charCodeAt(0));
    const alts = letters.slice(0, 40).map((c, i) => `[${String.fromCharCode(c)}${String.fromCharCode(letters[i + 1]!)}] "${String.fromCharCode(0x30 + (i % 10))}"`);
    const a = automaton(`root ::= ${alts.join(' | ')}`);
    const alphabet = [...letters, ...Array.from({ length: 10 }, (_, d) => 0x30 + d)];
    checkAllPairs(a, alphabet, (x, y) => {
      for (let i = 0; i < 40; i++) if ((x === letters[i] || x === letters[i + 1]) && y === 0x30 + (i % 10)) return true;
      return false;
    });
  });
});
