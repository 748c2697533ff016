import type { KernelBackend } from '../../kernels/kernel-backend.js';
import type { WeightLoader } from '../weight-loader.js';

/** RMS norm with a learned per-channel weight: out = x / rms(x) · weight. */
export class RmsNorm {
  constructor(
    private readonly backend: KernelBackend,
    /** [size] */
    readonly weight: Float32Array,
    readonly eps: number,
  ) {}

  static load(w: WeightLoader, backend: KernelBackend, name: string, size: number, eps: number): RmsNorm {
    return new RmsNorm(backend, w.vector(name, size), eps);
  }

  /** x, out: [numTokens, size] (may alias) */
  forward(out: Float32Array, x: Float32Array, numTokens: number): void {
    this.backend.rmsNorm(out, x, this.weight, numTokens, this.eps);
  }

  /** x += residual, then out = norm(x): a residual connection and the norm after it in one pass */
  addForward(out: Float32Array, x: Float32Array, residual: Float32Array, numTokens: number): void {
    this.backend.addRmsNorm(out, x, residual, this.weight, numTokens, this.eps);
  }
}
