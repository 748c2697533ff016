export {
  DEFAULT_SAMPLING_PARAMS,
  resolveSamplingParams,
  type SamplingParams,
  type SamplingParamsInput,
} from './sampling-params.js';
export { Sampler } from './sampler.js';
export { computeLogprobs, type TokenLogprob, type TokenLogprobs } from './compute-logprobs.js';
