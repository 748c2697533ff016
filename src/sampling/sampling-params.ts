import { randomBytes } from 'node:crypto';
import { InvalidRequestError } from '../errors/engine-error.js';

/**
 * How one sequence picks its next token. Every filter has an "off" value (see DEFAULT_SAMPLING_PARAMS);
 * the order in which they apply is documented on `Sampler`.
 */
export interface SamplingParams {
  /** logits are divided by this before the softmax; 0 = greedy (argmax, no randomness). ≥ 0 */
  temperature: number;
  /** keep only the topK highest logits; 0 = off. Integer ≥ 0 */
  topK: number;
  /** keep the smallest set of most likely tokens whose probability sums to ≥ topP; 1 = off. In (0, 1] */
  topP: number;
  /** drop tokens whose probability is below minP × the most likely token's; 0 = off. In [0, 1] */
  minP: number;
  /** CTRL/llama.cpp penalty for tokens in the penalty window: positive logits ÷, negative ×; 1 = off. > 0 */
  repetitionPenalty: number;
  /** OpenAI presence penalty: subtracted once from the logit of each token in the window. In [-2, 2] */
  presencePenalty: number;
  /** OpenAI frequency penalty: subtracted once per occurrence in the window. In [-2, 2] */
  frequencyPenalty: number;
  /** the penalty window, in tokens at the end of the history; -1 = whole history, 0 = none. Integer ≥ -1 */
  penaltyLastN: number;
  /** RNG seed: same seed + same logits → same tokens. Integer in [0, 2^32 - 1]; random when not given */
  seed: number;
}

/** What a caller may pass: any subset of the fields; absent fields take their defaults. */
export type SamplingParamsInput = { readonly [K in keyof SamplingParams]?: SamplingParams[K] };

export const DEFAULT_SAMPLING_PARAMS: Readonly<Omit<SamplingParams, 'seed'>> = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  penaltyLastN: 64,
});

const MAX_SEED = 0xffffffff;

interface FieldRule {
  /** called only with finite numbers */
  readonly isValid: (value: number) => boolean;
  readonly expected: string;
}

/**
 * repetitionPenalty's range: at most 2, as SGLang and earlier vLLM checked it ((0, 2]; 1 = off,
 * 2 all but bans a repeat; vLLM now checks only > 0 and finite); at least 0.01, because a positive
 * logit is divided by it and a tiny penalty (1e-300) overflows that to Infinity (NaN probabilities).
 */
export const REPETITION_PENALTY_RANGE = { min: 0.01, max: 2 } as const;

const FIELD_RULES: { readonly [K in keyof SamplingParams]: FieldRule } = {
  temperature: { isValid: (v) => v >= 0, expected: 'a finite number ≥ 0' },
  topK: { isValid: (v) => Number.isSafeInteger(v) && v >= 0, expected: 'an integer ≥ 0' },
  topP: { isValid: (v) => v > 0 && v <= 1, expected: 'a number in (0, 1]' },
  minP: { isValid: (v) => v >= 0 && v <= 1, expected: 'a number in [0, 1]' },
  repetitionPenalty: {
    isValid: (v) => v >= REPETITION_PENALTY_RANGE.min && v <= REPETITION_PENALTY_RANGE.max,
    expected: `a number in [${REPETITION_PENALTY_RANGE.min}, ${REPETITION_PENALTY_RANGE.max}]`,
  },
  presencePenalty: { isValid: (v) => v >= -2 && v <= 2, expected: 'a number in [-2, 2]' },
  frequencyPenalty: { isValid: (v) => v >= -2 && v <= 2, expected: 'a number in [-2, 2]' },
  penaltyLastN: { isValid: (v) => Number.isSafeInteger(v) && v >= -1, expected: 'an integer ≥ -1' },
  seed: { isValid: (v) => Number.isInteger(v) && v >= 0 && v <= MAX_SEED, expected: `an integer in [0, ${MAX_SEED}]` },
};

const FIELDS = Object.keys(FIELD_RULES) as ReadonlyArray<keyof SamplingParams>;

/**
 * Validates caller-supplied sampling params, fills in defaults (and a random seed when none is given),
 * and returns a frozen object. Throws one InvalidRequestError listing every bad field and its value.
 * `undefined` means "use the default"; any other non-number (null, strings) is rejected.
 */
export function resolveSamplingParams(input: SamplingParamsInput = {}): Readonly<SamplingParams> {
  const resolved: SamplingParams = { ...DEFAULT_SAMPLING_PARAMS, seed: 0 };
  let hasSeed = false;
  const issues: string[] = [];
  for (const field of FIELDS) {
    const value: unknown = input[field];
    if (value === undefined) continue;
    const rule = FIELD_RULES[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || !rule.isValid(value)) {
      issues.push(`${field} must be ${rule.expected} (got ${formatValue(value)})`);
      continue;
    }
    resolved[field] = value;
    if (field === 'seed') hasSeed = true;
  }
  if (issues.length > 0) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `invalid sampling params: ${issues.join('; ')}`);
  }
  if (!hasSeed) resolved.seed = randomSeed();
  return Object.freeze(resolved);
}

function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && Object.is(value, -0)) return '-0';
  return String(value);
}
