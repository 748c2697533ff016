import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { Automaton, DEAD } from './automaton.js';
import { lowerGrammar } from './byte-program.js';
import { parseGbnf } from './gbnf-parser.js';
import { regexToGbnf } from './regex.js';

const enc = new TextEncoder();
const automaton = (pattern: string, search = false): Automaton =>
  new Automaton(lowerGrammar(parseGbnf(`root ::= ${regexToGbnf(pattern, { encoding: 'raw', search })}`)));
const full = (a: Automaton, text: string): boolean => {
  const s = a.run(a.initial, enc.encode(text));
  return s !== DEAD && a.canEnd(s);
};

/** every string over `alphabet` up to `maxLen` characters */
function* strings(alphabet: string[], maxLen: number): Generator<string> {
  yield '';
  let level = [''];
  for (let len = 1; len <= maxLen; len++) {
    const next: string[] = [];
    for (const s of level) for (const c of alphabet) next.push(s + c);
    yield* next;
    level = next;
  }
}

describe('regexToGbnf', () => {
  const ALPHABET = ['a', 'b', 'c', '1', '-', '.', ' ', '\n', 'é', '🐦', 'Z', '_'];
  it.each([
    'abc', 'a|b|', 'a*b+c?', '(ab|c)*', '(?:a|bc){2,3}', '[a-c]{1,2}-\\d', '[^a\\d]+', '.+', '\\w+\\s?\\W',
    'a{2}', 'a{2,}', '(a|)b*?', '^a.c$', '[\\-.]?[é🐦]+', '(?<word>[a-z]+)_\\1?'.replace('\\1?', ''), 'Z\\.\\u00e9|\\x5f+', '[\\s\\S]{0,2}1',
  ])('matches exactly what RegExp /^(?:%s)$/u matches', (pattern) => {
    const a = automaton(pattern);
    const re = new RegExp(`^(?:${pattern})$`, 'u');
    let matched = 0;
    for (const s of strings(ALPHABET, 4)) {
      const expected = re.test(s);
      if (full(a, s) !== expected) expect.fail(`${pattern} on ${JSON.stringify(s)}: RegExp says ${expected}`);
      if (expected) matched++;
    }
    expect(matched).toBeGreaterThan(0);
  });

  it('search semantics (JSON Schema pattern): unanchored alternatives match anywhere', () => {
    const a = automaton('b1|^c|a$', true);
    const re = /b1|^c|a$/u;
    for (const s of strings(['a', 'b', 'c', '1'], 5)) expect(full(a, s), s).toBe(re.test(s));
  });

  it.each([
    ['(?=a)', /lookaround is not supported at offset 0/],
    ['a(?<!b)', /lookaround is not supported at offset 1/],
    ['(a)\\1', /backreferences are not supported at offset 3/],
    ['\\k<x>', /backreferences are not supported/],
    ['a\\b', /word boundaries/],
    ['a^b', /anchors are supported only at the start and end/],
    ['(a$)', /anchors are supported only/],
    ['(ab', /missing '\)' at offset 0/],
    ['ab)', /unexpected '\)'/],
    ['*a', /nothing to repeat at offset 0/],
    ['a**', /nothing to repeat/],
    ['[b-a]', /character range out of order at offset 0/],
    ['[a', /unterminated character class at offset 0/],
    ['[\\d-z]', /character range with a set/],
    ['a{3,2}', /n < m/],
    ['a{99999}', /repetition count exceeds the limit of 4096/],
    ['\\q', /unknown escape '\\q'/],
    ['('.repeat(100) + ')'.repeat(100), /groups nested deeper than 66 at offset 66/],
  ])('refuses %j', (pattern, message) => {
    let error: unknown;
    try {
      regexToGbnf(pattern, { encoding: 'raw' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toMatch(message);
  });
});
