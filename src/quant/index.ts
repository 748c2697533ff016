export * from './codec.js';
export * from './float16.js';
export { q4KCodec, q5KCodec, q6KCodec, q8KCodec, quantizeKQuant, type KQuantEffort } from './k-quants.js';
export { MXFP4_KVALUES, e8m0ToF32Half, mxfp4Codec } from './mxfp4.js';
export { q50Codec } from './q5-0.js';
export * from './quant-format.js';
