/**
 * When each request is issued, in ms from the start of a run.
 * - Server: a Poisson process at `ratePerSecond` (exponential inter-arrival gaps, seeded). Times
 *   for one seed scale exactly with 1/rate, so runs at different rates see the same pattern.
 * - Offline: everything at time 0.
 * - SingleStream: closed loop, the next request is issued when the previous one finishes; it has
 *   no schedule, so it is Offline arrivals run with at most one request in flight (scenario.ts).
 */
import { InvalidRequestError } from '../errors/engine-error.js';
import { Rng } from '../util/rng.js';

/** ascending arrival times in ms; the first arrives after one exponential gap, not at 0 */
export function poissonArrivalTimesMs(numRequests: number, ratePerSecond: number, seed = 0): number[] {
  if (!(ratePerSecond > 0 && Number.isFinite(ratePerSecond))) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `ratePerSecond must be a positive number, got ${ratePerSecond}`);
  }
  const rng = new Rng(seed);
  const meanGapMs = 1000 / ratePerSecond;
  const times = new Array<number>(numRequests);
  let t = 0;
  for (let i = 0; i < numRequests; i++) {
    t += -Math.log(1 - rng.next()) * meanGapMs; // 1 - u ∈ (0, 1]: never log(0)
    times[i] = t;
  }
  return times;
}

export function offlineArrivalTimesMs(numRequests: number): number[] {
  return new Array<number>(numRequests).fill(0);
}
