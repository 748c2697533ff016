import type { DeviceBuffer, KernelBackend, WeightHandle, WeightTensor, WeightUse } from '../kernels/kernel-backend.js';
import { HostScratch } from './host-scratch.js';

/**
 * A model's memory on its backend: the weights it uploaded (matrices by handle, norm weights and
 * biases as buffers) and named scratch buffers for activations, which grow to the largest size
 * asked for and are then reused. Host Int32Array scratch (block tables, argmax results) lives here
 * too. dispose() frees all of it (not the backend, which the model does not own).
 */
export class Workspace extends HostScratch implements Disposable {
  private readonly f32 = new Map<string, DeviceBuffer>();
  private readonly weights: WeightHandle[] = [];
  private readonly vectors: DeviceBuffer[] = [];

  constructor(readonly backend: KernelBackend) {
    super();
  }

  /** a [length] f32 scratch buffer `name` (a view of it while it is larger): valid until the next get of the same name */
  get(name: string, length: number): DeviceBuffer {
    let buf = this.f32.get(name);
    if (!buf || buf.length < length) {
      if (buf) this.backend.free(buf);
      buf = this.backend.allocate(length);
      this.f32.set(name, buf);
    }
    return buf.length === length ? buf : this.backend.view(buf, 0, length);
  }

  /** `w` uploaded for `use` (default 'matmul'); the handle is freed with this workspace */
  uploadWeight(w: WeightTensor, use?: WeightUse): WeightHandle {
    const handle = this.backend.uploadWeight(w, use);
    this.weights.push(handle);
    return handle;
  }

  /**
   * A matrix for matmul that may already be uploaded: a handle of this workspace as it is (a tied
   * output head that is the embedding's handle: one copy of the table, not two), else `w` uploaded.
   */
  uploadOrReuse(w: WeightTensor | WeightHandle): WeightHandle {
    const held = this.weights.find((h) => h === w);
    return held ?? this.uploadWeight(w as WeightTensor);
  }

  /** `values` copied into a backend buffer (a norm weight, a bias), freed with this workspace */
  uploadVector(values: Float32Array): DeviceBuffer {
    const buf = this.backend.allocate(values.length);
    this.backend.write(buf, values);
    this.vectors.push(buf);
    return buf;
  }

  /** frees every buffer and weight above; twice is harmless */
  dispose(): void {
    for (const buf of this.f32.values()) this.backend.free(buf);
    for (const buf of this.vectors) this.backend.free(buf);
    for (const w of this.weights) this.backend.freeWeight(w);
    this.f32.clear();
    this.clearHost();
    this.vectors.length = 0;
    this.weights.length = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
