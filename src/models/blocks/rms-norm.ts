import type { DeviceBuffer, KernelBackend } from '../../kernels/kernel-backend.js';
import type { WeightLoader } from '../weight-loader.js';
import type { Workspace } from '../workspace.js';

/** RMS norm with a learned per-channel weight: out = x / rms(x) · weight. */
export class RmsNorm {
  constructor(
    private readonly backend: KernelBackend,
    /** [size] f32, on the backend */
    readonly weight: DeviceBuffer,
    readonly eps: number,
  ) {}

  static load(w: WeightLoader, ws: Workspace, name: string, size: number, eps: number): RmsNorm {
    return new RmsNorm(ws.backend, ws.uploadVector(w.vector(name, size)), eps);
  }

  /** x, out: [numTokens, size] (may alias) */
  forward(out: DeviceBuffer, x: DeviceBuffer, numTokens: number): void {
    this.backend.rmsNorm(out, x, this.weight, numTokens, this.eps);
  }

  /** x += residual, then out = norm(x): a residual connection and the norm after it in one pass */
  addForward(out: DeviceBuffer, x: DeviceBuffer, residual: DeviceBuffer, numTokens: number): void {
    this.backend.addRmsNorm(out, x, residual, this.weight, numTokens, this.eps);
  }
}
