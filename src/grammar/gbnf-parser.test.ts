import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { Automaton, DEAD } from './automaton.js';
import { lowerGrammar } from './byte-program.js';
import { parseGbnf } from './gbnf-parser.js';

const enc = new TextEncoder();
/** 'full' when `text` is a complete match, 'prefix' when it can still become one, 'no' otherwise */
export function matchGbnf(automaton: Automaton, text: string | Uint8Array): 'full' | 'prefix' | 'no' {
  const s = automaton.run(automaton.initial, typeof text === 'string' ? enc.encode(text) : text);
  if (s === DEAD) return 'no';
  return automaton.canEnd(s) ? 'full' : 'prefix';
}
const compile = (g: string): Automaton => new Automaton(lowerGrammar(parseGbnf(g)));

describe('parseGbnf', () => {
  it('matches literals, classes, groups, alternation and repetition', () => {
    const a = compile(`
      # a comment
      root ::= greeting " " name ("!" | "?")?   # trailing comment
      greeting ::= "hi" | "hello"
      name ::= [A-Z] [a-z]+
    `);
    expect(matchGbnf(a, 'hi Bob')).toBe('full');
    expect(matchGbnf(a, 'hello Alice!')).toBe('full');
    expect(matchGbnf(a, 'hello Al')).toBe('full');
    expect(matchGbnf(a, 'hello A')).toBe('prefix');
    expect(matchGbnf(a, 'hello alice')).toBe('no');
    expect(matchGbnf(a, 'hey')).toBe('no');
    expect(matchGbnf(a, 'hi Bob!!')).toBe('no');
  });

  it('continues a rule over lines until the next `name ::=`', () => {
    const a = compile('root ::=\n  "a"\n  | "b"\n  "c"\nother ::= "x"\n');
    expect(matchGbnf(a, 'a')).toBe('full');
    expect(matchGbnf(a, 'bc')).toBe('full');
    expect(matchGbnf(a, 'b')).toBe('prefix');
  });

  it('repeats a whole literal, as llama.cpp does', () => {
    const a = compile('root ::= "no" "pe"? "!"{2} ""*');
    expect(matchGbnf(a, 'no!!')).toBe('full');
    expect(matchGbnf(a, 'nope!!')).toBe('full');
    expect(matchGbnf(a, 'nop!!')).toBe('no');
  });

  it('repeats something that can be empty without calling it left recursion', () => {
    const a = compile('root ::= ("a"*)* ("b" | "")+ "c"');
    expect(matchGbnf(a, 'aaabbc')).toBe('full');
    expect(matchGbnf(a, 'c')).toBe('full');
    expect(matchGbnf(a, 'ba')).toBe('no');
  });

  it('handles {m}, {m,}, {m,n}, {,n}', () => {
    const a = compile('root ::= "a"{2} "b"{1,} "c"{0,2} "d"{,1} "e"');
    expect(matchGbnf(a, 'aabe')).toBe('full');
    expect(matchGbnf(a, 'aabbbccde')).toBe('full');
    expect(matchGbnf(a, 'abe')).toBe('no');
    expect(matchGbnf(a, 'aabccce')).toBe('no');
    expect(matchGbnf(a, 'aabdde')).toBe('no');
  });

  it('decodes escapes and matches UTF-8 classes, negated classes and `.`', () => {
    const a = compile('root ::= "\\x41\\u00e9\\U0001F426\\n\\"\\\\" [^a-z] [α-ω]+ .');
    expect(matchGbnf(a, 'Aé🐦\n"\\Xαβγ日')).toBe('full');
    expect(matchGbnf(a, 'Aé🐦\n"\\xαβγ日')).toBe('no');
    expect(matchGbnf(a, 'Aé🐦\n"\\Xa')).toBe('no');
    // a prefix that ends inside a multi-byte character is viable
    const bytes = enc.encode('Aé🐦');
    expect(matchGbnf(a, bytes.slice(0, 4))).toBe('prefix');
    // invalid UTF-8 is never matched by `.`
    const dot = compile('root ::= .');
    expect(matchGbnf(dot, new Uint8Array([0xff]))).toBe('no');
    expect(matchGbnf(dot, new Uint8Array([0xed, 0xa0, 0x80]))).toBe('no'); // a surrogate
    expect(matchGbnf(dot, new Uint8Array([0xc0, 0x80]))).toBe('no'); // overlong
    expect(matchGbnf(dot, enc.encode('\u{10FFFF}'))).toBe('full');
  });

  it('allows right recursion without growing the stack and nested recursion up to the depth limit', () => {
    const a = compile('root ::= "(" root ")" | "x"');
    expect(matchGbnf(a, '((x))')).toBe('full');
    expect(matchGbnf(a, '((x)')).toBe('prefix');
    const list = compile('root ::= "a" root | ""');
    expect(matchGbnf(list, 'a'.repeat(10000))).toBe('full');
  });

  it.each([
    ['', /empty grammar/],
    ['root ::= "a"\nroot ::= "b"', /rule 'root' defined twice at line 2 column 1/],
    ['root ::= foo', /undefined rule 'foo' \(referenced at line 1 column 10\)/],
    ['start ::= "a"', /missing 'root' rule/],
    ['root ::= "abc', /unterminated literal/],
    ['root ::= [a-z', /unterminated character class at line 1 column 10/],
    ['root ::= ("a" | "b"', /expected '\)' at line 1 column 10/],
    ['root ::= * "a"', /'\*' with nothing to repeat/],
    ['root "a"', /expected '::='/],
    ['root ::= "\\q"', /unknown escape '\\q'/],
    ['root ::= "\\xZZ"', /expected 2 hex digits/],
    ['root ::= [z-a]', /character range out of order/],
    ['root ::= "a"{3,2}', /max below min/],
    ['root ::= "a"{}', /expected a count/],
    ['root ::= "a" @', /unexpected character '@' at line 1 column 14/],
    ['root ::= "a"{1000000}', /repetition count 1000000 exceeds the limit of 4096/],
    ['root ::= root "a" | "b"', /rule 'root' is left-recursive/],
    ['root ::= a\na ::= a', /rule 'a' is left-recursive/],
    ['root ::= x root\nx ::= "" | "y"', /rule 'root' is left-recursive/],
  ])('refuses %j', (grammar, message) => {
    let error: unknown;
    try {
      lowerGrammar(parseGbnf(grammar));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).code).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a grammar whose expansion is too large, quickly', () => {
    const t = performance.now();
    // nested repetition refers to the repeated group instead of copying it: fine
    expect(() => parseGbnf('root ::= ((("a"{4000}){4000}){4000})')).not.toThrow();
    expect(() => parseGbnf(`root ::= ${'x{4000} '.repeat(120)}\nx ::= "a"`)).toThrow(/grammar too large: the number of grammar elements exceeds the limit of 400000/);
    expect(() => parseGbnf('root ::= ' + '('.repeat(5000) + '"a"' + ')'.repeat(5000))).toThrow(/nested deeper than 200/);
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('parses a large grammar in linear time', () => {
    // ~1 MB, 60,000 references (generated grammars may be this long)
    const rules = Array.from({ length: 30000 }, (_, i) => `r${i} ::= "x" r${i + 1} | [a-z] r${i + 1}`).join('\n');
    const t = performance.now();
    const g = parseGbnf(`root ::= r0\n${rules}\nr30000 ::= "."`, 'root', 4 << 20);
    expect(g.rules.length).toBeGreaterThan(30000);
    expect(performance.now() - t).toBeLessThan(3000);
  });
});
