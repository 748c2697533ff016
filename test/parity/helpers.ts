import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { probeNativeBackend } from '../../src/kernels/native/native-backend.js';

/** ../shared beside the project (CI always has it; a user's machine may not). */
export const SHARED_MODELS = resolve(import.meta.dirname, '../../../shared/models');
export const HAS_SHARED = existsSync(SHARED_MODELS);
export const STORIES_260K = join(SHARED_MODELS, 'stories260K/stories260K.gguf');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `peregrine-${prefix}-`));
}

/** max |a - b| / max |b| over the finite entries of b */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(b[i]!)) continue;
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

/** index of the first difference, or -1 */
export function firstDifference(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** llama.cpp settings for its all-f32 CPU path: f32 KV cache, no flash attention. */
export const LLAMA_CPP_F32 = { flashAttention: false, kvCacheKeyType: 'F32', kvCacheValueType: 'F32' } as const;

/** Kernel backends to run the parity tests on: the reference always, the native one when it built. */
export const BACKENDS: readonly ('reference' | 'native')[] = (() => {
  const probe = probeNativeBackend({ threads: 1 });
  if (!probe.ok) {
    console.warn(`[parity] native backend unavailable (${probe.reason}): testing the reference backend only`);
    return ['reference'];
  }
  probe.backend[Symbol.dispose]();
  return ['reference', 'native'];
})();
