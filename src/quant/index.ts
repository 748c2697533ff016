export * from './codec.js';
export * from './float16.js';
export { q4KCodec, q5KCodec, q6KCodec, q8KCodec, quantizeKQuant, type KQuantEffort } from './k-quants.js';
export { MXFP4_KVALUES, e8m0ToF32Half, mxfp4Codec, nearestE2M1Code } from './mxfp4.js';
export { UE4M3_HALF_TABLE, f32ToUe4m3, nvfp4Codec, ue4m3ToF32Half } from './nvfp4.js';
export { E4M3_TABLE, e4m3ToF32, e8m0ToF32, f32ToE4m3, fp8BlockScale, fp8Codec } from './fp8.js';
export { q50Codec } from './q5-0.js';
export * from './quant-format.js';
