/**
 * Seeded synthetic workloads: N requests with input/output lengths drawn from a distribution and
 * random prompt token ids. The defaults are log-normal, which is how chat traces look (a long
 * right tail of big prompts and answers).
 */
import { InvalidRequestError } from '../errors/engine-error.js';
import { Rng } from '../util/rng.js';

/** lengths in tokens; every kind except `fixed` is clipped to [min, max] and rounded */
export type LengthDistribution =
  | { readonly kind: 'fixed'; readonly value: number }
  | { readonly kind: 'uniform'; readonly min: number; readonly max: number }
  | { readonly kind: 'normal'; readonly mean: number; readonly stdDev: number; readonly min: number; readonly max: number }
  /** exp(N(ln median, sigma²)) */
  | { readonly kind: 'lognormal'; readonly median: number; readonly sigma: number; readonly min: number; readonly max: number };

export const DEFAULT_INPUT_LENGTH: LengthDistribution = { kind: 'lognormal', median: 128, sigma: 0.8, min: 16, max: 1024 };
export const DEFAULT_OUTPUT_LENGTH: LengthDistribution = { kind: 'lognormal', median: 128, sigma: 0.6, min: 16, max: 512 };

/**
 * prompt ids avoid the first ids (special/byte tokens) and the last ones (added/reserved tokens):
 * this many of each, or a quarter of the vocabulary each where that is fewer (stories260K has 512)
 */
export const NUM_LOW_IDS_AVOIDED = 256;
export const NUM_HIGH_IDS_AVOIDED = 2048;

/** the ids prompts are drawn from, [minId, endId), for a vocabulary of vocabSize tokens */
export function promptIdRange(vocabSize: number): { readonly minId: number; readonly endId: number } {
  const quarter = Math.floor(vocabSize / 4);
  return { minId: Math.min(NUM_LOW_IDS_AVOIDED, quarter), endId: vocabSize - Math.min(NUM_HIGH_IDS_AVOIDED, quarter) };
}

export interface BenchRequest {
  readonly requestId: number;
  readonly promptIds: readonly number[];
  /** output length: requests run with EOS ignored, so exactly this many tokens */
  readonly maxTokens: number;
}

export interface WorkloadOptions {
  readonly numRequests: number;
  readonly vocabSize: number;
  readonly seed?: number;
  readonly inputLength?: LengthDistribution;
  readonly outputLength?: LengthDistribution;
}

export function createWorkload(options: WorkloadOptions): BenchRequest[] {
  const { numRequests, vocabSize } = options;
  if (!Number.isInteger(numRequests) || numRequests < 0) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `numRequests must be a non-negative integer, got ${numRequests}`);
  }
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `vocabSize must be a positive integer, got ${vocabSize}`);
  }
  const { minId, endId } = promptIdRange(vocabSize);
  const numIds = endId - minId;
  const inputLength = options.inputLength ?? DEFAULT_INPUT_LENGTH;
  const outputLength = options.outputLength ?? DEFAULT_OUTPUT_LENGTH;
  validateDistribution(inputLength, 'inputLength');
  validateDistribution(outputLength, 'outputLength');
  const rng = new Rng(options.seed ?? 0);
  const requests: BenchRequest[] = [];
  for (let requestId = 0; requestId < numRequests; requestId++) {
    const numInputTokens = sampleLength(inputLength, rng);
    const maxTokens = sampleLength(outputLength, rng);
    const promptIds = new Array<number>(numInputTokens);
    for (let i = 0; i < numInputTokens; i++) promptIds[i] = minId + Math.floor(rng.next() * numIds);
    requests.push({ requestId, promptIds, maxTokens });
  }
  return requests;
}

/** one length (an integer ≥ 1) from `dist` */
export function sampleLength(dist: LengthDistribution, rng: Rng): number {
  switch (dist.kind) {
    case 'fixed':
      return Math.max(1, Math.round(dist.value));
    case 'uniform':
      return clip(Math.ceil(dist.min) + Math.floor(rng.next() * (Math.floor(dist.max) - Math.ceil(dist.min) + 1)), dist.min, dist.max);
    case 'normal':
      return clip(dist.mean + dist.stdDev * rng.gaussian(), dist.min, dist.max);
    case 'lognormal':
      return clip(dist.median * Math.exp(dist.sigma * rng.gaussian()), dist.min, dist.max);
  }
}

function clip(value: number, min: number, max: number): number {
  return Math.max(1, Math.min(max, Math.max(min, Math.round(value))));
}

function validateDistribution(dist: LengthDistribution, path: string): void {
  const bad = (why: string): never => {
    throw new InvalidRequestError('INVALID_ARGUMENT', `${path}: ${why}`);
  };
  if (dist.kind === 'fixed') {
    if (!(dist.value >= 1)) bad(`value must be ≥ 1, got ${dist.value}`);
    return;
  }
  if (!(dist.min >= 1 && dist.max >= dist.min)) bad(`need 1 ≤ min ≤ max, got [${dist.min}, ${dist.max}]`);
  if (dist.kind === 'normal' && !(dist.stdDev >= 0)) bad(`stdDev must be ≥ 0, got ${dist.stdDev}`);
  if (dist.kind === 'lognormal' && !(dist.median > 0 && dist.sigma >= 0)) {
    bad(`need median > 0 and sigma ≥ 0, got median ${dist.median}, sigma ${dist.sigma}`);
  }
}
