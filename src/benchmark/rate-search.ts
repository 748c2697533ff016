/**
 * Finds the highest Server arrival rate whose run meets the latency constraints: an exponential
 * ramp (×growthFactor up from the start rate while valid, ÷ down while invalid) brackets the
 * threshold, then bisection narrows it until (hi − lo) / lo ≤ relativePrecision or the trial
 * budget runs out. Assumes validity is monotone in rate (true enough when every trial reuses one
 * arrival seed, since Poisson times then scale exactly with 1/rate).
 */
import { InvalidRequestError } from '../errors/engine-error.js';
import type { ScenarioResult } from './scenario.js';

/** what one trial must report; a `ScenarioResult` from `runServer` fits */
export type TrialOutcome = Pick<ScenarioResult, 'ttftMs' | 'tpotMs' | 'isValid' | 'stoppedEarly'>;

export interface RateTrial {
  readonly ratePerSecond: number;
  readonly ttftP99Ms: number;
  readonly tpotP99Ms: number;
  readonly isValid: boolean;
  /** the trial stopped once its TTFT p99 was out of reach; the p99s cover the requests that finished */
  readonly isStoppedEarly?: true;
}

export interface RateSearchOptions {
  /** run the Server scenario at this rate */
  readonly runTrial: (ratePerSecond: number) => Promise<TrialOutcome>;
  readonly startRatePerSecond?: number;
  readonly growthFactor?: number;
  readonly relativePrecision?: number;
  readonly maxTrials?: number;
  /** the downward ramp gives up below this rate (default 0.001/s): nothing useful passes there */
  readonly minRatePerSecond?: number;
  readonly onTrial?: (trial: RateTrial) => void;
}

export interface RateSearchResult {
  /** highest valid rate seen; null when none was valid */
  readonly bestRatePerSecond: number | null;
  /** lowest invalid rate seen; null when none was invalid */
  readonly lowestInvalidRatePerSecond: number | null;
  /** the bracket is within relativePrecision (false when the trial budget ran out first) */
  readonly isConverged: boolean;
  /** every trial in the order run */
  readonly trials: readonly RateTrial[];
}

export async function searchMaxRate(options: RateSearchOptions): Promise<RateSearchResult> {
  const growthFactor = options.growthFactor ?? 2;
  const relativePrecision = options.relativePrecision ?? 0.05;
  const maxTrials = options.maxTrials ?? 12;
  const startRate = options.startRatePerSecond ?? 1;
  const minRate = options.minRatePerSecond ?? 1e-3;
  if (!(growthFactor > 1 && relativePrecision > 0 && maxTrials >= 1 && startRate > 0)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'need growthFactor > 1, relativePrecision > 0, maxTrials ≥ 1, startRatePerSecond > 0');
  }
  const trials: RateTrial[] = [];
  let lo: number | null = null; // highest valid
  let hi: number | null = null; // lowest invalid
  const trial = async (ratePerSecond: number): Promise<boolean> => {
    const outcome = await options.runTrial(ratePerSecond);
    const t: RateTrial = {
      ratePerSecond,
      ttftP99Ms: outcome.ttftMs.p99,
      tpotP99Ms: outcome.tpotMs.p99,
      isValid: outcome.isValid === true,
      ...(outcome.stoppedEarly ? { isStoppedEarly: true as const } : {}),
    };
    trials.push(t);
    options.onTrial?.(t);
    if (t.isValid && (lo === null || ratePerSecond > lo)) lo = ratePerSecond;
    if (!t.isValid && (hi === null || ratePerSecond < hi)) hi = ratePerSecond;
    return t.isValid;
  };
  const isBracketed = (): boolean => lo !== null && hi !== null && (hi - lo) / lo <= relativePrecision;

  // ramp until the threshold is bracketed
  let rate = startRate;
  const isStartValid = await trial(rate);
  while (trials.length < maxTrials && (isStartValid ? hi === null : lo === null)) {
    rate = isStartValid ? rate * growthFactor : rate / growthFactor;
    if (rate < minRate) break;
    await trial(rate);
  }
  // bisect
  while (trials.length < maxTrials && lo !== null && hi !== null && !isBracketed()) {
    await trial((lo + hi) / 2);
  }
  return { bestRatePerSecond: lo, lowestInvalidRatePerSecond: hi, isConverged: isBracketed(), trials };
}
