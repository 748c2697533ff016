import { ModelLoadError } from '../errors/engine-error.js';
import type { KernelBackend } from './kernel-backend.js';
import { isaCapFromEnv, probeNativeBackend, type MatmulPrecision } from './native/native-backend.js';
import { ReferenceBackend } from './reference/reference-backend.js';

/** 'auto': the native kernels when they built, else the TypeScript reference backend (said once on stderr). */
export type BackendChoice = 'auto' | 'native' | 'reference';

export interface BackendSelection {
  readonly threads?: number;
  /** Q8_0 / Q4_0 / Q4_K batch arithmetic of the native kernels (NativeBackendOptions.matmulPrecision) */
  readonly matmulPrecision?: MatmulPrecision;
}

let hasWarned = false;

/** Creates the kernel backend for a choice. The caller owns it and disposes it (a native backend holds threads and native memory). */
export function selectBackend(choice: BackendChoice = 'auto', options: BackendSelection = {}): KernelBackend {
  if (choice === 'reference') return new ReferenceBackend();
  isaCapFromEnv(); // an unknown PEREGRINE_ISA is an error, not a silent fall back to the TypeScript backend
  const probe = probeNativeBackend({ threads: options.threads, matmulPrecision: options.matmulPrecision });
  if (probe.ok) return probe.backend;
  if (choice === 'native') {
    throw new ModelLoadError('NATIVE_BACKEND_FAILED', `native kernels are unavailable: ${probe.reason}`);
  }
  if (!hasWarned) {
    hasWarned = true;
    process.emitWarning(`native kernels are unavailable (${probe.reason}); using the TypeScript backend, which is much slower`, {
      code: 'PEREGRINE_NO_NATIVE',
    });
  }
  return new ReferenceBackend();
}
