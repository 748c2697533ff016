import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { DEFAULT_SAMPLING_PARAMS, resolveSamplingParams, type SamplingParamsInput } from './sampling-params.js';

describe('resolveSamplingParams', () => {
  it('fills defaults and a random 32-bit seed, and freezes the result', () => {
    const params = resolveSamplingParams();
    expect(params).toMatchObject({
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      repetitionPenalty: 1,
      presencePenalty: 0,
      frequencyPenalty: 0,
      penaltyLastN: 64,
    });
    expect(params).toMatchObject(DEFAULT_SAMPLING_PARAMS);
    expect(Number.isInteger(params.seed)).toBe(true);
    expect(params.seed).toBeGreaterThanOrEqual(0);
    expect(params.seed).toBeLessThanOrEqual(0xffffffff);
    expect(Object.isFrozen(params)).toBe(true);
  });

  it('draws a different seed each time when none is given', () => {
    const seeds = new Set(Array.from({ length: 8 }, () => resolveSamplingParams({}).seed));
    expect(seeds.size).toBeGreaterThan(1);
  });

  it('keeps given values, including every boundary value that is allowed', () => {
    const input: SamplingParamsInput = {
      temperature: 0,
      topK: 40,
      topP: 1,
      minP: 1,
      repetitionPenalty: 0.01,
      presencePenalty: -2,
      frequencyPenalty: 2,
      penaltyLastN: -1,
      seed: 0xffffffff,
    };
    expect(resolveSamplingParams(input)).toEqual(input);
    expect(resolveSamplingParams({ repetitionPenalty: 2 }).repetitionPenalty).toBe(2);
    expect(resolveSamplingParams({ minP: 0, topP: 1e-9, seed: 0, penaltyLastN: 0 })).toMatchObject({
      minP: 0,
      topP: 1e-9,
      seed: 0,
      penaltyLastN: 0,
    });
  });

  it('treats undefined as absent', () => {
    expect(resolveSamplingParams({ temperature: undefined, seed: 7 })).toMatchObject({ temperature: 1, seed: 7 });
  });

  const badValues: Array<[field: keyof SamplingParamsInput, value: unknown, shown: string]> = [
    ['temperature', -0.1, '-0.1'],
    ['temperature', Number.NaN, 'NaN'],
    ['temperature', Number.POSITIVE_INFINITY, 'Infinity'],
    ['temperature', '0.7', '"0.7"'],
    ['topK', -1, '-1'],
    ['topK', 2.5, '2.5'],
    ['topK', Number.NaN, 'NaN'],
    ['topP', 0, '0'],
    ['topP', -0.5, '-0.5'],
    ['topP', 1.01, '1.01'],
    ['topP', null, 'null'],
    ['minP', -0.01, '-0.01'],
    ['minP', 1.5, '1.5'],
    ['repetitionPenalty', 0, '0'],
    ['repetitionPenalty', -1.1, '-1.1'],
    ['repetitionPenalty', 1e-300, '1e-300'],
    ['repetitionPenalty', 2.5, '2.5'],
    ['repetitionPenalty', Number.POSITIVE_INFINITY, 'Infinity'],
    ['presencePenalty', 2.01, '2.01'],
    ['presencePenalty', -2.5, '-2.5'],
    ['frequencyPenalty', 3, '3'],
    ['frequencyPenalty', Number.NEGATIVE_INFINITY, '-Infinity'],
    ['penaltyLastN', -2, '-2'],
    ['penaltyLastN', 1.5, '1.5'],
    ['seed', -1, '-1'],
    ['seed', 2 ** 32, '4294967296'],
    ['seed', 1.5, '1.5'],
    ['seed', '42', '"42"'],
  ];

  it.each(badValues)('rejects %s = %s, naming the field and the value', (field, value, shown) => {
    const call = (): unknown => resolveSamplingParams({ [field]: value } as SamplingParamsInput);
    expect(call).toThrow(InvalidRequestError);
    try {
      call();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidRequestError);
      const { code, message } = error as InvalidRequestError;
      expect(code).toBe('INVALID_ARGUMENT');
      expect(message).toContain(`${field} must be`);
      expect(message).toContain(`(got ${shown})`);
    }
  });

  it('reports every bad field in one error', () => {
    expect(() => resolveSamplingParams({ temperature: -1, topP: 0, seed: -5 })).toThrow(
      /temperature must be .*\(got -1\); topP must be .*\(got 0\); seed must be .*\(got -5\)/,
    );
  });
});
