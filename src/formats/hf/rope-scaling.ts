/** Llama 3.1's rope scaling, as config.json's rope_scaling (rope_type 'llama3') gives it */
export interface Llama3RopeScalingParams {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalContextLength: number;
}

/**
 * Llama 3.1 RoPE scaling factors (rope_freqs.weight, [headDim/2] f32), computed as
 * convert_hf_to_gguf.py does, in f32 like its torch tensors: wavelengths shorter than
 * originalContextLength/highFreqFactor keep factor 1, longer than originalContextLength/lowFreqFactor
 * get `factor`, and those between are interpolated smoothly.
 */
export function llama3RopeFactors(ropeTheta: number, headDim: number, scaling: Llama3RopeScalingParams): Float32Array {
  const fr = Math.fround;
  const { factor, lowFreqFactor, highFreqFactor, originalContextLength } = scaling;
  const lowFreqWavelen = originalContextLength / lowFreqFactor;
  const highFreqWavelen = originalContextLength / highFreqFactor;
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) {
    const freq = fr(1 / fr(Math.pow(ropeTheta, fr(fr(2 * i) / headDim))));
    const wavelen = fr(fr(2 * Math.PI) / freq);
    if (wavelen < highFreqWavelen) out[i] = 1;
    else if (wavelen > lowFreqWavelen) out[i] = factor;
    else {
      const smooth = fr(fr(fr(originalContextLength / wavelen) - lowFreqFactor) / (highFreqFactor - lowFreqFactor));
      out[i] = fr(1 / fr(fr(fr(1 - smooth) / factor) + smooth));
    }
  }
  return out;
}
