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

/** KL(softmax(ref) ‖ softmax(got)) in nats, over the finite entries of ref */
export function klDivergence(ref: Float32Array, got: Float32Array): number {
  const p = logSoftmax(ref);
  const q = logSoftmax(got);
  let sum = 0;
  for (let i = 0; i < p.length; i++) if (Number.isFinite(p[i]!)) sum += Math.exp(p[i]!) * (p[i]! - q[i]!);
  return sum;
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) if (Number.isFinite(v)) sum += Math.exp(v - max);
  const logSum = Math.log(sum) + max;
  return Float64Array.from(logits, (v) => v - logSum);
}

/** index of the largest entry (the first on a tie) */
export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** index of the first difference, or -1 */
export function firstDifference(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** llama.cpp settings for its all-f32 CPU path: f32 KV cache, no flash attention. */
export const LLAMA_CPP_F32 = { flashAttention: false, kvCacheKeyType: 'F32', kvCacheValueType: 'F32' } as const;

/** The native backend's instruction set (PEREGRINE_ISA caps it), or undefined when the addon did not build. */
export const NATIVE_ISA = (() => {
  const probe = probeNativeBackend({ threads: 1 });
  if (!probe.ok) {
    console.warn(`[parity] native backend unavailable (${probe.reason}): testing the reference backend only`);
    return undefined;
  }
  probe.backend[Symbol.dispose]();
  return probe.backend.isa;
})();

/**
 * Kernel backends to run the parity tests on: the reference always, the native one when it built.
 * PEREGRINE_PARITY_BACKENDS=native (as .ci/run sets it for the lower ISA levels, where only the
 * native kernels change) leaves the reference backend out.
 */
export const BACKENDS: readonly ('reference' | 'native')[] = (() => {
  const all: ('reference' | 'native')[] = NATIVE_ISA === undefined ? ['reference'] : ['reference', 'native'];
  const only = process.env.PEREGRINE_PARITY_BACKENDS?.split(',').map((s) => s.trim());
  return only ? all.filter((b) => only.includes(b)) : all;
})();
