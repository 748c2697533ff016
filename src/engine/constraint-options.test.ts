import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { resolveConstraintSpec, resolveLogitBias } from './constraint-options.js';

describe('resolveConstraintSpec', () => {
  it('maps responseFormat, grammar and constraint to one spec; text is no constraint', () => {
    expect(resolveConstraintSpec({})).toBeUndefined();
    expect(resolveConstraintSpec({ responseFormat: { type: 'text' } })).toBeUndefined();
    expect(resolveConstraintSpec({ responseFormat: { type: 'json_object' } })).toEqual({ type: 'json_object' });
    expect(resolveConstraintSpec({ responseFormat: { type: 'json_schema', schema: { type: 'integer' } } })).toEqual({ type: 'json_schema', schema: { type: 'integer' } });
    expect(resolveConstraintSpec({ grammar: 'root ::= "a"' })).toEqual({ type: 'gbnf', grammar: 'root ::= "a"' });
    expect(resolveConstraintSpec({ constraint: { type: 'regex', pattern: 'a+' } })).toEqual({ type: 'regex', pattern: 'a+' });
  });

  it('refuses two constraints at once, an empty grammar and an unknown format', () => {
    expect(() => resolveConstraintSpec({ responseFormat: { type: 'json_object' }, grammar: 'root ::= "a"' })).toThrow(InvalidRequestError);
    expect(() => resolveConstraintSpec({ grammar: ' ' })).toThrow(/grammar/);
    expect(() => resolveConstraintSpec({ responseFormat: { type: 'xml' } as never })).toThrow(/responseFormat.type/);
  });
});

describe('resolveLogitBias', () => {
  it('sorts by id, drops zero biases, and checks ids and range', () => {
    const bias = resolveLogitBias({ 9: 5, 2: -100, 4: 0 }, 10)!;
    expect(Array.from(bias.tokenIds)).toEqual([2, 9]);
    expect(Array.from(bias.biases)).toEqual([-100, 5]);
    expect(resolveLogitBias({ 4: 0 }, 10)).toBeUndefined();
    expect(() => resolveLogitBias({ 10: 1 }, 10)).toThrow(/not a token id/);
    expect(() => resolveLogitBias({ 1: 101 }, 10)).toThrow(/\[-100, 100\]/);
    expect(() => resolveLogitBias({ 1: NaN }, 10)).toThrow(InvalidRequestError);
  });
});
