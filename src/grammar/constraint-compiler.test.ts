import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { createConstraintCompiler } from './constraint-compiler.js';
import { GRAMMAR_LIMITS } from './limits.js';
import type { ConstraintSpec } from './token-constraint.js';

const enc = new TextEncoder();
/** one token per byte, then a few words, then end-of-generation */
function byteTokenizer(words: string[] = []): Tokenizer {
  const pieces = [...Array.from({ length: 256 }, (_, b) => new Uint8Array([b])), ...words.map((w) => enc.encode(w))];
  return {
    vocabSize: pieces.length + 1,
    tokenBytes: (id: number) => pieces[id] ?? new Uint8Array(0),
    isEndOfGeneration: (id: number) => id === pieces.length,
    isControl: (id: number) => id === pieces.length,
  } as unknown as Tokenizer;
}

function refusal(f: () => unknown): InvalidRequestError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidRequestError);
    expect((e as InvalidRequestError).code).toBe('INVALID_ARGUMENT');
    return e as InvalidRequestError;
  }
  return expect.fail('expected an InvalidRequestError');
}

/** drives a constraint through `text` byte by byte; returns [canEnd, mustEnd] */
function drive(spec: ConstraintSpec, text: string, compiler = createConstraintCompiler(byteTokenizer())): [boolean, boolean] {
  const c = compiler.compile(spec).create();
  const mask = new Uint32Array(Math.ceil(257 / 32));
  for (const b of enc.encode(text)) {
    c.fillAllowedMask(mask);
    expect((mask[b >>> 5]! >>> (b & 31)) & 1, `byte ${b} allowed`).toBe(1);
    c.acceptToken(b);
  }
  return [c.canEnd, c.mustEnd];
}

describe('createConstraintCompiler', () => {
  it('compiles every spec type and follows a matching output to its end', () => {
    expect(drive({ type: 'json_object' }, '{"a": [1, {"b": null}]}')).toEqual([true, true]);
    expect(drive({ type: 'json_schema', schema: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false } }, '{"a": 12')).toEqual([false, false]);
    expect(drive({ type: 'gbnf', grammar: 'root ::= "yes" | "no" "pe"?' }, 'no')).toEqual([true, false]);
    expect(drive({ type: 'regex', pattern: '[0-9]{3}-[0-9]{4}' }, '555-0199')).toEqual([true, true]);
  });

  it('caches per spec (property order is part of the key) and drops the least recently used', () => {
    const compiler = createConstraintCompiler(byteTokenizer());
    const a = { type: 'json_schema', schema: { type: 'object', properties: { x: {}, y: {} } } } as const;
    const b = { type: 'json_schema', schema: { type: 'object', properties: { y: {}, x: {} } } } as const;
    const first = compiler.compile(a);
    expect(compiler.compile(JSON.parse(JSON.stringify(a)))).toBe(first);
    expect(compiler.compile(b)).not.toBe(first);
    for (let i = 0; i < 100; i++) compiler.compile({ type: 'regex', pattern: `a{${i}}` });
    expect(compiler.compile(a)).not.toBe(first);
  });

  it('refuses bad specs with INVALID_ARGUMENT naming the problem', () => {
    const compiler = createConstraintCompiler(byteTokenizer());
    expect(refusal(() => compiler.compile({ type: 'gbnf', grammar: 'root ::= [' })).message).toMatch(/unterminated character class/);
    expect(refusal(() => compiler.compile({ type: 'json_schema', schema: { type: 'object', propertyNames: {} } })).message).toMatch(/unsupported keyword 'propertyNames'/);
    expect(refusal(() => compiler.compile({ type: 'regex', pattern: '(?!x)' })).message).toMatch(/lookaround/);
    const cyclic: Record<string, unknown> = { type: 'object' };
    cyclic.properties = { self: cyclic };
    expect(refusal(() => compiler.compile({ type: 'json_schema', schema: cyclic })).message).toMatch(/not serializable/);
    expect(refusal(() => compiler.compile({ type: 'gbnf', grammar: `root ::= "${'a'.repeat(600_000)}"` })).message).toMatch(/spec too large/);
    expect(refusal(() => compiler.compile({ type: 'nope' } as unknown as ConstraintSpec)).message).toMatch(/unknown constraint type/);
  });

  it('refuses pathological grammars quickly: left recursion, huge repetition, deep nesting, a blow-up of stacks', () => {
    const compiler = createConstraintCompiler(byteTokenizer());
    const t = performance.now();
    expect(refusal(() => compiler.compile({ type: 'gbnf', grammar: 'root ::= a\na ::= a' })).message).toMatch(/left-recursive/);
    expect(refusal(() => compiler.compile({ type: 'gbnf', grammar: 'root ::= "x"{0,1000000000}' })).message).toMatch(/exceeds the limit of 4096/);
    expect(refusal(() => compiler.compile({ type: 'json_schema', schema: { type: 'array', maxItems: 1e9 } })).message).toMatch(/'maxItems' 1000000000 exceeds the limit/);
    let deep: unknown = { type: 'null' };
    for (let i = 0; i < 1000; i++) deep = { type: 'array', items: deep };
    expect(refusal(() => compiler.compile({ type: 'json_schema', schema: deep })).message).toMatch(/schema too deep/);
    // 2^n distinct stacks after n bytes: refused once a state holds more than the limit
    const ambiguous = compiler.compile({ type: 'gbnf', grammar: 'root ::= s\ns ::= "a" s "b" | "a" s "c" | ""' }).create();
    expect(refusal(() => { for (let i = 0; i < 20; i++) ambiguous.acceptToken(0x61); }).message).toMatch(/too ambiguous: a matcher state exceeds the limit of 4096 stacks/);
    // 2^40 distinct stacks before the first byte: leftmost calls that fan out at every level
    const fan = Array.from({ length: 40 }, (_, k) => `r${k} ::= r${k + 1} "a" | r${k + 1} "b"`).join('\n');
    expect(refusal(() => compiler.compile({ type: 'gbnf', grammar: `root ::= r0\n${fan}\nr40 ::= "x"` })).message).toMatch(/too ambiguous/);
    // a leftmost call chain longer than the stack limit: cut there, no crash
    const chain = Array.from({ length: 13000 }, (_, k) => `c${k}::=c${k + 1}"a"`).join('\n');
    const long = compiler.compile({ type: 'gbnf', grammar: `root ::= c0 | "z"\n${chain}\nc13000 ::= "x"` }).create();
    long.acceptToken(0x7a);
    expect(long.canEnd).toBe(true);
    expect(performance.now() - t).toBeLessThan(5000);
  });

  it('bounds nesting: deeper than the matcher stack allows is not matched', () => {
    const deep = '['.repeat(GRAMMAR_LIMITS.maxStackDepth + 100);
    const c = createConstraintCompiler(byteTokenizer()).compile({ type: 'gbnf', grammar: 'root ::= "[" root "]" | "x"' }).create();
    const mask = new Uint32Array(9);
    let i = 0;
    for (; i < deep.length; i++) {
      c.fillAllowedMask(mask);
      if (!((mask[0x5b >>> 5]! >>> (0x5b & 31)) & 1)) break;
      c.acceptToken(0x5b);
    }
    expect(i).toBeGreaterThan(GRAMMAR_LIMITS.maxStackDepth - 100);
    expect(i).toBeLessThan(GRAMMAR_LIMITS.maxStackDepth + 1);
  });
});
